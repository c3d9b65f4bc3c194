#!/usr/bin/env python3
"""scripts/capture_trace.py on a tiny randomly initialised torch model (no download):
the folder has the trace format and `attnbench run --trace` accepts it. Exits 77 (ctest
skip) when torch or numpy cannot be imported. Usage: trace_capture_test.py SOURCE_DIR ATTNBENCH"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

src, exe = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "scripts"))
import capture_trace  # noqa: E402

torch.manual_seed(0)
H, G, D, HID, LAYERS, VOCAB = 4, 2, 16, 64, 3, 50


class Cfg:
    num_attention_heads, num_key_value_heads, head_dim, hidden_size = H, G, D, HID


class Attn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = torch.nn.Linear(HID, H * D)
        self.k_proj = torch.nn.Linear(HID, G * D)
        self.v_proj = torch.nn.Linear(HID, G * D)
        self.o_proj = torch.nn.Linear(H * D, HID)

    def forward(self, x, position_embeddings=None):
        # Llama-style: project, rotate q and k (rotate-half RoPE), causal GQA softmax
        # attention; the pre-o_proj output is kept so the test can recompute it from the trace.
        n = x.shape[1]
        q = self.q_proj(x).view(1, n, H, D).transpose(1, 2)
        k = self.k_proj(x).view(1, n, G, D).transpose(1, 2)
        v = self.v_proj(x).view(1, n, G, D).transpose(1, 2)
        cos, sin = position_embeddings
        q = q * cos[:, None] + capture_trace.rotate_half(q) * sin[:, None]
        k = k * cos[:, None] + capture_trace.rotate_half(k) * sin[:, None]
        k = k.repeat_interleave(H // G, dim=1)
        v = v.repeat_interleave(H // G, dim=1)
        s = q @ k.transpose(-1, -2) / D ** 0.5
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        self.last = (s.softmax(-1) @ v)[0]  # [H, n, D]
        return self.o_proj(self.last.transpose(0, 1).reshape(1, n, H * D)) + x


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = Cfg()
        self.emb = torch.nn.Embedding(VOCAB, HID)
        self.layers = torch.nn.ModuleList(Attn() for _ in range(LAYERS))

    def forward(self, ids):
        x = self.emb(ids)
        n = ids.shape[1]
        inv = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
        ang = torch.outer(torch.arange(n).float(), inv)
        emb = torch.cat([ang, ang], dim=-1)[None]
        for layer in self.layers:
            x = layer(x, position_embeddings=(emb.cos(), emb.sin()))
        return x


model = Tiny().eval()
ids = torch.randint(0, VOCAB, (1, 40))
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "tiny")
    meta = capture_trace.capture(model, ids, 32, out, "tiny/random", layers=[0, 2])
    assert meta == {"model": "tiny/random", "layers": 2, "heads_q": H, "heads_kv": G, "head_dim": D,
                    "rope_applied": True, "question_start": 32}, meta
    assert json.load(open(os.path.join(out, "trace.json"))) == meta
    for l in range(2):
        q = np.load(os.path.join(out, f"layer_{l}", "q.npy"))
        k = np.load(os.path.join(out, f"layer_{l}", "k.npy"))
        assert q.shape == (H, 40, D) and q.dtype == np.float32, q.shape
        assert k.shape == (G, 40, D), k.shape
    # Position 0 has angle 0: RoPE leaves it unchanged, so k there is the projection.
    with torch.no_grad():
        k0 = model.layers[0].k_proj(model.emb(ids))[0, 0].reshape(G, D).numpy()
    assert np.allclose(np.load(os.path.join(out, "layer_0", "k.npy"))[:, 0], k0, atol=1e-5)
    # The stored q, k, v are what the module attended with: softmax attention recomputed
    # from the trace (rotated q and k, causal, GQA) equals the module's own output.
    q = np.load(os.path.join(out, "layer_1", "q.npy")).astype(np.float64)
    k = np.load(os.path.join(out, "layer_1", "k.npy")).astype(np.float64).repeat(H // G, axis=0)
    v = np.load(os.path.join(out, "layer_1", "v.npy")).astype(np.float64).repeat(H // G, axis=0)
    s = q @ k.transpose(0, 2, 1) / np.sqrt(D)
    s[:, np.triu(np.ones((40, 40), dtype=bool), 1)] = -np.inf
    p = np.exp(s - s.max(-1, keepdims=True))
    o = (p / p.sum(-1, keepdims=True)) @ v
    assert np.allclose(o, model.layers[2].last.numpy(), atol=1e-4), np.abs(o - model.layers[2].last.numpy()).max()
    db = os.path.join(tmp, "t.db")
    r = subprocess.run([exe, "run", "--trace", out, "--method", "full,streaming", "--variant", "flash:causal",
                        "--no-peaks", "--repetitions", "1", "--db", db], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
print("ok")
