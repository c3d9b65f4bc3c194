#!/usr/bin/env python3
"""Compare attnbench's CUDA `flash` with PyTorch SDPA (flash and cuDNN backends).

Runs on a machine with an NVIDIA GPU and PyTorch. In one process it times the same
shapes (bf16, d=128, L=4K..32K, causal and non-causal) through

  * attnbench's CUDA plugin, loaded with ctypes over the plain C ABI
    (harness/include/attnbench/plugin_abi.h); the plugin times its kernel with
    CUDA events and returns the seconds, and
  * torch.nn.functional.scaled_dot_product_attention restricted to one backend with
    torch.nn.attention.sdpa_kernel (FLASH_ATTENTION, CUDNN_ATTENTION), timed with
    CUDA events around the call,

prints a ratio table, and stores the numbers in an attnbench SQLite database
(schema: harness/src/store/store_schema.h) as a run whose cases have backend
'pytorch-flash' / 'pytorch-cudnn' (and 'cuda' for attnbench's own timings), so
`attnbench report` can put them side by side.

Each peer's output is also compared with attnbench's: an element off by more than the
dtype's tolerance (|ours - peer| > atol + rtol * |peer|, see TOLERANCE; NaN counts as off)
marks that peer's case 'failed' in the table and the store, and the script exits with 1.

`--help` works without torch: torch is imported only when the comparison runs.
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import platform
import re
import socket
import sqlite3
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------
# The plugin ABI (plugin_abi.h, ATTNBENCH_PLUGIN_API_VERSION 2) in ctypes.
# ---------------------------------------------------------------------------
API_VERSION = 2
AB_F32, AB_BF16, AB_F16 = 0, 1, 2
AB_KV_HND, AB_KV_NHD = 0, 1
AB_OK = 0
STATUS = {0: "ok", 1: "unsupported", 2: "no_device", 3: "out_of_memory", 4: "invalid_argument",
          5: "internal_error"}

c_buffer = ctypes.c_void_p


class AbDeviceInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 128), ("driver", ctypes.c_char * 64),
                ("memory_bytes", ctypes.c_uint64), ("compute_units", ctypes.c_int32)]


class AbPeaks(ctypes.Structure):
    _fields_ = [("flops_f32", ctypes.c_double), ("flops_f16", ctypes.c_double),
                ("bytes_per_second", ctypes.c_double), ("flops_bf16", ctypes.c_double)]


class AbAttentionArgs(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int32), ("heads_q", ctypes.c_int32), ("heads_kv", ctypes.c_int32),
                ("len_q", ctypes.c_int32), ("len_k", ctypes.c_int32), ("head_dim", ctypes.c_int32),
                ("dtype", ctypes.c_int),  # C enum: int-sized on every ABI we build for
                ("causal", ctypes.c_int32), ("window_left", ctypes.c_int32),
                ("window_right", ctypes.c_int32), ("scale", ctypes.c_float), ("softcap", ctypes.c_float),
                ("seq_len_q", ctypes.POINTER(ctypes.c_int32)), ("seq_len_k", ctypes.POINTER(ctypes.c_int32)),
                ("page_size", ctypes.c_int32), ("max_pages_per_seq", ctypes.c_int32),
                ("num_pages", ctypes.c_int32), ("block_table", c_buffer),
                ("q", c_buffer), ("k", c_buffer), ("v", c_buffer), ("o", c_buffer),
                # v2: 0 = head_dim; kv_layout (paged pools only) sits in former padding; no LSE output
                ("head_dim_v", ctypes.c_int32), ("kv_layout", ctypes.c_int32), ("lse", c_buffer)]


CTX = ctypes.c_void_p
_status = ctypes.c_int


class AbPlugin(ctypes.Structure):
    _fields_ = [
        ("api_version", ctypes.c_uint32), ("struct_size", ctypes.c_uint32),
        ("name", ctypes.c_char_p), ("description", ctypes.c_char_p), ("version", ctypes.c_char_p),
        ("variants", ctypes.POINTER(ctypes.c_char_p)),
        ("device_count", ctypes.CFUNCTYPE(ctypes.c_int32)),
        ("create", ctypes.CFUNCTYPE(_status, ctypes.c_int32, ctypes.c_char_p, ctypes.POINTER(CTX))),
        ("destroy", ctypes.CFUNCTYPE(None, CTX)),
        ("last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, CTX)),
        ("device_info", ctypes.CFUNCTYPE(_status, CTX, ctypes.POINTER(AbDeviceInfo))),
        ("supports", ctypes.CFUNCTYPE(_status, CTX, ctypes.c_char_p, ctypes.POINTER(AbAttentionArgs))),
        ("alloc", ctypes.CFUNCTYPE(_status, CTX, ctypes.c_size_t, ctypes.POINTER(c_buffer))),
        ("release", ctypes.CFUNCTYPE(None, CTX, c_buffer)),
        ("upload", ctypes.CFUNCTYPE(_status, CTX, c_buffer, ctypes.c_void_p, ctypes.c_size_t)),
        ("download", ctypes.CFUNCTYPE(_status, CTX, ctypes.c_void_p, c_buffer, ctypes.c_size_t)),
        ("fill", ctypes.CFUNCTYPE(_status, CTX, c_buffer, ctypes.c_uint8, ctypes.c_size_t)),
        ("run_attention", ctypes.CFUNCTYPE(_status, CTX, ctypes.c_char_p, ctypes.POINTER(AbAttentionArgs),
                                           ctypes.POINTER(ctypes.c_double))),
        ("measure_peaks", ctypes.CFUNCTYPE(_status, CTX, ctypes.POINTER(AbPeaks))),
        # v2 entries this script does not call (kept opaque: only their size matters).
        ("kv", ctypes.c_void_p), ("run_backward", ctypes.c_void_p), ("memory_info", ctypes.c_void_p),
    ]


class Plugin:
    """One opened device of an attnbench plugin, driven through its C ABI."""

    def __init__(self, path, device=0, options=""):
        self.lib = ctypes.CDLL(path)
        entry = self.lib.attnbench_plugin_entry
        entry.restype = ctypes.POINTER(AbPlugin)
        self.p = entry().contents
        if self.p.api_version != API_VERSION or self.p.struct_size != ctypes.sizeof(AbPlugin):
            raise RuntimeError(f"{path}: plugin ABI {self.p.api_version} (struct {self.p.struct_size} bytes), "
                               f"this script speaks {API_VERSION} ({ctypes.sizeof(AbPlugin)} bytes)")
        if self.p.device_count() <= device:
            raise RuntimeError(f"{path}: no device {device}")
        self.ctx = CTX()
        self._check(self.p.create(device, options.encode(), ctypes.byref(self.ctx)), "create", None)
        info = AbDeviceInfo()
        self._check(self.p.device_info(self.ctx, ctypes.byref(info)), "device_info")
        self.device_name = info.name.decode()
        self.driver = info.driver.decode()

    def _check(self, status, what, ctx=0):
        if status != AB_OK:
            msg = self.p.last_error(self.ctx if ctx == 0 else ctx)
            raise RuntimeError(f"{what}: {STATUS.get(status, status)}: {msg.decode() if msg else ''}")

    def upload_tensor(self, t):
        """Copies a contiguous torch tensor into a new plugin buffer (via host bytes)."""
        host = t.detach().contiguous().cpu()
        nbytes = host.numel() * host.element_size()
        buf = c_buffer()
        self._check(self.p.alloc(self.ctx, nbytes, ctypes.byref(buf)), "alloc")
        self._check(self.p.upload(self.ctx, buf, ctypes.c_void_p(host.data_ptr()), nbytes), "upload")
        return buf, nbytes

    def alloc(self, nbytes):
        buf = c_buffer()
        self._check(self.p.alloc(self.ctx, nbytes, ctypes.byref(buf)), "alloc")
        return buf

    def download_into(self, host_tensor, buf):
        nbytes = host_tensor.numel() * host_tensor.element_size()
        self._check(self.p.download(self.ctx, ctypes.c_void_p(host_tensor.data_ptr()), buf, nbytes), "download")

    def run(self, variant, args):
        """Runs one call; returns the plugin's kernel time in seconds."""
        seconds = ctypes.c_double(0.0)
        self._check(self.p.run_attention(self.ctx, variant.encode(), ctypes.byref(args), ctypes.byref(seconds)),
                    "run_attention")
        return seconds.value

    def release(self, buf):
        self.p.release(self.ctx, buf)

    def close(self):
        self.p.destroy(self.ctx)


# ---------------------------------------------------------------------------
# Shapes, counts and timing.
# ---------------------------------------------------------------------------
def shapes(lengths, head_dim, tokens_per_call, heads):
    """(batch, heads, L) per length: batch chosen so each call holds ~tokens_per_call tokens."""
    return [(max(1, tokens_per_call // L), heads, L) for L in lengths]


def visible_pairs(L, causal):
    """Query-key pairs one head attends to (self-attention, bottom-right aligned)."""
    return L * (L + 1) // 2 if causal else L * L


def model_flops(b, h, L, d, causal):
    return 4.0 * d * b * h * visible_pairs(L, causal)


def model_bytes(b, h, L, d, elem=2):
    return float(elem) * d * (2.0 * b * h * L + 2.0 * b * h * L)


def canonical_shape(b, h, L, d):
    return f"b={b},hq={h},hkv={h},lq={L},lk={L},d={d},bf16"


def canonical_config(causal):
    return "flash:causal" if causal else "flash"


# Agreement of two implementations' outputs in a storage type: |ours - peer| <= atol +
# rtol * |peer| per element. Each side rounds O once to the dtype and bf16/fp16 flash
# kernels also round P before P V, so the bound is a few units in the last place.
TOLERANCE = {"bf16": (2e-2, 2e-2), "fp16": (2e-3, 4e-3), "fp32": (1e-5, 1e-5)}


def compare_outputs(ours, peer, dtype_name):
    """(max |ours - peer|, ok) of two float tensors under TOLERANCE[dtype_name]."""
    atol, rtol = TOLERANCE[dtype_name]
    diff = (ours - peer).abs()
    max_diff = diff.max().item() if diff.numel() else 0.0
    bound = atol + rtol * peer.abs()
    # NaN anywhere (either side) fails: `diff <= bound` is False for NaN.
    ok = bool((diff <= bound).all().item())
    return max_diff, ok


def time_torch(fn, warmup, reps, torch):
    """Median and all per-call times of fn() with CUDA events around each call."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1e-3)
    return times


def time_plugin(plugin, args, warmup, reps):
    for _ in range(warmup):
        plugin.run("flash", args)
    return [plugin.run("flash", args) for _ in range(reps)]


# ---------------------------------------------------------------------------
# The attnbench store.
# ---------------------------------------------------------------------------
def load_schema():
    """The migrations of harness/src/store/store_schema.h, in order."""
    text = open(os.path.join(REPO, "harness", "src", "store", "store_schema.h")).read()
    return re.findall(r'R"sql\((.*?)\)sql"', text, re.S)


def open_store(path):
    db = sqlite3.connect(path)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    migrations = load_schema()
    if version > len(migrations):
        raise RuntimeError(f"{path} is at schema {version}, this checkout knows {len(migrations)}")
    for i in range(version, len(migrations)):
        db.executescript(migrations[i])
        db.execute(f"PRAGMA user_version = {i + 1}")
    db.commit()
    return db


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_results(db, rows, device, driver, torch_version, seed, started):
    cur = db.cursor()
    cur.execute(
        "INSERT INTO runs (started_at, finished_at, status, library_versions, host, os, gpu, driver,"
        " command_line, seed, quick, selection) VALUES (?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?, 0, ?)",
        (started, now_iso(), json.dumps({"torch": torch_version}), socket.gethostname(),
         platform.platform(), device, driver, " ".join(sys.argv), seed,
         json.dumps({"suites": ["peer"], "backends": sorted({r["backend"] for r in rows}),
                     "script": "scripts/peer_compare_pytorch.py"})))
    run_id = cur.lastrowid
    for r in rows:
        b, h, L, d, causal = r["b"], r["h"], r["L"], r["d"], r["causal"]
        config, shape = canonical_config(causal), canonical_shape(b, h, L, d)
        cur.execute(
            "INSERT INTO cases (run_id, case_key, suite, suite_file_hash, phase, backend, device, variant,"
            " config, dtype, batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, shape, status,"
            " message, flops, bytes) VALUES (?, ?, 'peer', '', 'prefill', ?, ?, 'flash', ?, 'bf16', ?, ?, ?,"
            " ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (run_id, f"peer|{r['backend']}|{config}|{shape}", r["backend"], device, config, b, h, h, L, L, d,
             shape, r["status"], r.get("message", ""), r["flops"], r["bytes"]))
        case_id = cur.lastrowid
        times = r.get("times") or []
        for i, t in enumerate(times):
            cur.execute("INSERT INTO samples (case_id, repetition, iterations, seconds) VALUES (?, ?, 1, ?)",
                        (case_id, i, t))
        if times:
            med = statistics.median(times)
            mad = statistics.median([abs(t - med) for t in times])
            metrics = [("time_median", med, "s"), ("time_min", min(times), "s"), ("time_mad", mad, "s"),
                       ("flops_per_second", r["flops"] / med, "FLOP/s"),
                       ("bytes_per_second", r["bytes"] / med, "B/s")]
            if "max_abs_diff" in r:
                metrics.append(("max_abs_diff_vs_attnbench", r["max_abs_diff"], ""))
            cur.executemany("INSERT INTO metrics (case_id, name, value, unit) VALUES (?, ?, ?, ?)",
                            [(case_id, n, v, u) for n, v, u in metrics])
    db.commit()
    return run_id


# ---------------------------------------------------------------------------
# The comparison.
# ---------------------------------------------------------------------------
def run_comparison(opts):
    import torch  # lazily: --help must work without torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to PyTorch")
    torch.manual_seed(opts.seed)
    started = now_iso()
    plugin = Plugin(opts.plugin, opts.device)
    torch.cuda.set_device(opts.device)
    peers = [("pytorch-flash", SDPBackend.FLASH_ATTENTION), ("pytorch-cudnn", SDPBackend.CUDNN_ATTENTION)]
    rows = []
    d = opts.head_dim
    for (b, h, L) in shapes(opts.lengths, d, opts.tokens_per_call, opts.heads):
        # [batch, heads, L, d] contiguous: the ABI layout and SDPA's (B, H, L, E) layout agree.
        q, k, v = (torch.randn(b, h, L, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        bufs = [plugin.upload_tensor(t)[0] for t in (q, k, v)]
        o_bytes = q.numel() * q.element_size()
        o_buf = plugin.alloc(o_bytes)
        for causal in (False, True):
            flops, nbytes = model_flops(b, h, L, d, causal), model_bytes(b, h, L, d)
            base = {"b": b, "h": h, "L": L, "d": d, "causal": causal, "flops": flops, "bytes": nbytes}
            args = AbAttentionArgs(batch=b, heads_q=h, heads_kv=h, len_q=L, len_k=L, head_dim=d, dtype=AB_BF16,
                                   causal=int(causal), window_left=-1, window_right=-1,
                                   scale=1.0 / math.sqrt(d), softcap=0.0, q=bufs[0], k=bufs[1], v=bufs[2],
                                   o=o_buf)
            ours = None
            try:
                times = time_plugin(plugin, args, opts.warmup, opts.reps)
                ours = torch.empty(b, h, L, d, dtype=torch.bfloat16)
                plugin.download_into(ours, o_buf)
                rows.append(dict(base, backend="cuda", status="ok", times=times))
            except RuntimeError as e:
                rows.append(dict(base, backend="cuda", status="error", message=str(e)))
            for name, backend in peers:
                row = dict(base, backend=name)
                try:
                    with sdpa_kernel([backend]):
                        # Lq == Lk, so SDPA's top-left causal mask equals attnbench's bottom-right one.
                        fn = lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=1.0 / math.sqrt(d))
                        out = fn()
                        row["times"] = time_torch(fn, opts.warmup, opts.reps, torch)
                    row["status"] = "ok"
                    if ours is not None:
                        max_diff, ok = compare_outputs(ours.float(), out.float().cpu(), "bf16")
                        row["max_abs_diff"] = max_diff
                        if not ok:
                            atol, rtol = TOLERANCE["bf16"]
                            row.update(status="failed",
                                       message=f"output differs from attnbench's: max |diff| {max_diff:.3g} "
                                               f"exceeds the bf16 tolerance {atol:g} + {rtol:g} * |ref|")
                except RuntimeError as e:  # backend not available for this GPU/shape
                    row.update(status="unsupported", message=str(e).splitlines()[0][:300])
                rows.append(row)
        for buf in bufs + [o_buf]:
            plugin.release(buf)
        del q, k, v
        torch.cuda.empty_cache()
    print_table(rows, plugin.device_name)
    if opts.db:
        db = open_store(opts.db)
        run_id = store_results(db, rows, plugin.device_name, plugin.driver, torch.__version__, opts.seed, started)
        print(f"stored run {run_id} in {opts.db}")
    plugin.close()
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        print(f"FAILED {r['backend']} {canonical_shape(r['b'], r['h'], r['L'], r['d'])} "
              f"{'causal' if r['causal'] else 'full'}: {r['message']}", file=sys.stderr)
    return 1 if failed else 0


def print_table(rows, device):
    """One line per (shape, mask): attnbench and peer TFLOP/s and peer/attnbench time ratios."""
    def med(r):
        return statistics.median(r["times"]) if r.get("status") in ("ok", "failed") and r.get("times") else None

    print(f"\nflash attention, bf16, {device} (kernel time, CUDA events, median)")
    print(f"{'shape':<46} {'mask':<7} {'attnbench':>10} {'pt-flash':>10} {'pt-cudnn':>10} "
          f"{'flash/ours':>10} {'cudnn/ours':>10}  TFLOP/s (ours)")
    keys = sorted({(r["b"], r["h"], r["L"], r["d"], r["causal"]) for r in rows}, key=lambda k: (k[2], k[4]))
    for key in keys:
        group = {r["backend"]: r for r in rows if (r["b"], r["h"], r["L"], r["d"], r["causal"]) == key}
        t = {name: med(group[name]) if name in group else None for name in ("cuda", "pytorch-flash", "pytorch-cudnn")}
        ms = lambda x: f"{x * 1e3:9.3f}ms" if x else f"{'n/a':>11}"
        ratio = lambda x: f"{x / t['cuda']:10.2f}" if x and t["cuda"] else f"{'n/a':>10}"
        tflops = f"{group['cuda']['flops'] / t['cuda'] / 1e12:8.1f}" if t["cuda"] else "n/a"
        b, h, L, d, causal = key
        print(f"{canonical_shape(b, h, L, d):<46} {'causal' if causal else 'full':<7} {ms(t['cuda'])}"
              f"{ms(t['pytorch-flash'])}{ms(t['pytorch-cudnn'])} {ratio(t['pytorch-flash'])} "
              f"{ratio(t['pytorch-cudnn'])}  {tflops}"
              + "".join(f"  FAILED vs {name} (max |diff| {group[name]['max_abs_diff']:.3g})"
                        for name in ("pytorch-flash", "pytorch-cudnn")
                        if name in group and group[name]["status"] == "failed"))
    print("ratio < 1: the PyTorch backend is faster than attnbench's CUDA flash.")


def parse_args(argv=None):
    default_plugin = os.path.join(REPO, "build", "bin", "plugins", "libattnbench-backend-cuda.so")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--plugin", default=default_plugin, help="path of libattnbench-backend-cuda.so")
    ap.add_argument("--db", default=None, help="attnbench SQLite store to add the results to (created if missing)")
    ap.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")],
                    default=[4096, 8192, 16384, 32768], help="comma-separated sequence lengths")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--tokens-per-call", type=int, default=32768,
                    help="batch = max(1, tokens / L), so every call is large enough to fill the GPU")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run_comparison(parse_args()))
