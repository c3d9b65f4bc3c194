#!/usr/bin/env python3
"""Capture an attention trace for `attnbench run --trace DIR` from a Hugging Face model.

Usage (needs torch, transformers and numpy):

    python3 scripts/capture_trace.py --model meta-llama/Llama-3.2-1B \
        --context-file doc.txt --question "What is the passkey?" --out traces/llama-passkey \
        [--layers 0,7,15] [--dtype float16] [--max-context 4096] [--device cuda]

It runs one forward pass over context + question with forward hooks on every attention
module's q_proj/k_proj/v_proj and a pre-hook on the attention module itself (its
position_embeddings argument gives RoPE's cos/sin), and writes the folder format of
harness/src/trace/attention_trace.h:

    DIR/trace.json  {"model", "layers", "heads_q", "heads_kv", "head_dim",
                     "rope_applied", "question_start"}
    DIR/layer_i/q.npy [heads_q, len, head_dim], k.npy and v.npy [heads_kv, len, head_dim]

q and k are stored after RoPE (rotate-half convention of Llama, Mistral, Qwen2, Gemma)
when the attention module receives position_embeddings, and "rope_applied" says so;
otherwise they are the projections as computed and "rope_applied" is false.
question_start is the number of context tokens: the question tokens follow it.

capture(model, input_ids, question_start, out_dir, model_name, layers) also works on any
torch module tree whose attention modules have q_proj/k_proj/v_proj children and whose
`config` has num_attention_heads, num_key_value_heads (optional) and head_dim (optional),
which is how tests/trace_capture_test.py exercises it without downloading a model.
"""
import argparse
import json
import os
import sys


def rotate_half(x):
    import torch
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def attention_modules(model):
    """(name, module) of every module holding q_proj, k_proj and v_proj, in model order."""
    return [(n, m) for n, m in model.named_modules()
            if all(hasattr(m, p) for p in ("q_proj", "k_proj", "v_proj"))]


class _ForwardPatch:
    """Restores a module's own forward: the hook handle of watch_kwargs on torch < 2.0."""

    def __init__(self, module):
        self.module = module

    def remove(self):
        del self.module.forward  # drops the instance attribute; the class's forward is back


def watch_kwargs(module, see):
    """Calls see(kwargs) before every forward of `module`; returns a handle with remove().
    torch >= 2.0 has keyword-aware pre-hooks; older torch (Debian 12 ships 1.13) passes
    only positional arguments to hooks, so there the instance's forward is wrapped."""
    import inspect
    if "with_kwargs" in inspect.signature(module.register_forward_pre_hook).parameters:
        return module.register_forward_pre_hook(lambda _m, _args, kwargs: see(kwargs), with_kwargs=True)
    own = module.forward

    def forward(*args, **kwargs):
        see(kwargs)
        return own(*args, **kwargs)
    module.forward = forward
    return _ForwardPatch(module)


def capture(model, input_ids, question_start, out_dir, model_name, layers=None, dtype="float32"):
    """Runs model(input_ids) once and writes the trace folder; returns the trace.json dict."""
    import numpy as np
    import torch
    cfg = model.config
    heads_q = int(cfg.num_attention_heads)
    heads_kv = int(getattr(cfg, "num_key_value_heads", None) or heads_q)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads_q)
    mods = attention_modules(model)
    if not mods:
        raise SystemExit("capture_trace: the model has no attention module with q_proj/k_proj/v_proj")
    chosen = list(range(len(mods))) if layers is None else layers
    for l in chosen:
        if not 0 <= l < len(mods):
            raise SystemExit(f"capture_trace: layer {l} out of range 0..{len(mods) - 1}")
    seen = {l: {} for l in chosen}
    hooks = []
    for l in chosen:
        _, att = mods[l]
        for part in ("q", "k", "v"):
            def out_hook(_m, _inp, out, l=l, part=part):
                seen[l][part] = out.detach()
            hooks.append(getattr(att, part + "_proj").register_forward_hook(out_hook))

        def keep_rope(kwargs, l=l):
            pe = kwargs.get("position_embeddings")
            if pe is not None:
                seen[l]["rope"] = (pe[0].detach(), pe[1].detach())
        hooks.append(watch_kwargs(att, keep_rope))
    try:
        with torch.no_grad():
            model(input_ids)
    finally:
        for h in hooks:
            h.remove()
    length = input_ids.shape[-1]
    np_dtype = np.float16 if dtype == "float16" else np.float32
    rope_applied = all("rope" in seen[l] for l in chosen)
    os.makedirs(out_dir, exist_ok=True)
    for i, l in enumerate(chosen):
        s = seen[l]
        # [1, len, heads * d] -> [heads, len, d]
        q = s["q"][0].reshape(length, heads_q, head_dim).transpose(0, 1).float()
        k = s["k"][0].reshape(length, heads_kv, head_dim).transpose(0, 1).float()
        v = s["v"][0].reshape(length, heads_kv, head_dim).transpose(0, 1).float()
        if rope_applied:
            cos, sin = (t.reshape(-1, t.shape[-1])[-length:].float() for t in s["rope"])
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        ld = os.path.join(out_dir, f"layer_{i}")
        os.makedirs(ld, exist_ok=True)
        for name, t in (("q", q), ("k", k), ("v", v)):
            np.save(os.path.join(ld, name + ".npy"), np.ascontiguousarray(t.cpu().numpy().astype(np_dtype)))
    meta = {"model": model_name, "layers": len(chosen), "heads_q": heads_q, "heads_kv": heads_kv,
            "head_dim": head_dim, "rope_applied": rope_applied, "question_start": int(question_start)}
    with open(os.path.join(out_dir, "trace.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model id or local folder")
    ap.add_argument("--context", help="context text")
    ap.add_argument("--context-file", help="file holding the context text")
    ap.add_argument("--question", required=True, help="question text (its tokens follow the context)")
    ap.add_argument("--out", required=True, help="trace folder to write")
    ap.add_argument("--layers", help="comma-separated layer indices (default: all)")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="stored element type")
    ap.add_argument("--max-context", type=int, default=4096, help="context tokens kept (the last ones)")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        sys.exit(f"capture_trace: needs torch and transformers ({e})")
    if (a.context is None) == (a.context_file is None):
        sys.exit("capture_trace: give exactly one of --context and --context-file")
    text = a.context if a.context is not None else open(a.context_file).read()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).to(a.device).eval()
    ctx = tok(text, return_tensors="pt").input_ids[:, -a.max_context:]
    qst = tok(a.question, return_tensors="pt", add_special_tokens=False).input_ids
    ids = torch.cat([ctx, qst], dim=1).to(a.device)
    layers = [int(x) for x in a.layers.split(",")] if a.layers else None
    meta = capture(model, ids, ctx.shape[1], a.out, a.model, layers, a.dtype)
    print(f"capture_trace: wrote {a.out} ({meta['layers']} layers, {ids.shape[1]} tokens, question at {ctx.shape[1]})")


if __name__ == "__main__":
    main()
