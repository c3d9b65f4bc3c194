// The CPU backend's KV-cache primitives (ab_kv_ops of plugin_abi.h) as a library: each
// function validates its arguments (AB_INVALID_ARGUMENT with the reason) and runs the
// kernel of the active ISA level in the caller's oneTBB arena. The plugin's table
// (kv_ops.cpp) wraps these with timing and error reporting; the bench calls them directly.
#pragma once

#include <cstddef>

#include "attnbench/plugin_abi.h"
#include "cpu_kernels.h"

namespace attnbench::cpu::kv {

/// Argument checks, one per primitive (shapes, NULL buffers, ranges, key lists).
Check validate(const ab_kv_score_args& a);
Check validate(const ab_kv_stat_args& a);
Check validate(const ab_kv_topk_args& a);
Check validate(const ab_kv_dot_args& a);
Check validate(const ab_kv_compact_args& a);
/// Shape and spec of a quantised cache; `need_buffers` also requires k, v, out.
Check validate(const ab_kv_quant_args& a, bool need_buffers);
Check validate(const ab_kv_quant_decode_args& a);

/// Runs a primitive on validated arguments (see plugin_abi.h for the semantics).
void run(const ab_kv_score_args& a);
void run(const ab_kv_stat_args& a);
void run(const ab_kv_topk_args& a);
void run(const ab_kv_dot_args& a);
void run(const ab_kv_compact_args& a);
void run(const ab_kv_quant_args& a);
void run(const ab_kv_quant_decode_args& a);

/// Bytes of the quantised cache of a validated shape (quant_layout.h).
size_t quant_cache_bytes(const ab_kv_quant_args& a);

}  // namespace attnbench::cpu::kv
