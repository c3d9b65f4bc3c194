// CPU emulation of the GPU kernels' algorithm, built from the same shared headers
// (launch_plan.h, kv_addressing.h, kernel_math.h): tiles, online softmax, splits,
// paged addressing and the log-sum-exp merge. Tests compare it with the fp64 oracle
// so the device logic is checked on machines without a GPU. Part of attnbench_gpu_host.
#pragma once

#include <cstdint>

#include "attnbench/plugin_abi.h"
#include "launch_plan.h"

namespace attnbench::gpu {

/// Tiled flash attention over contiguous fp32 Q/K/V (layouts of plugin_abi.h),
/// block_m query rows by block_n keys per tile, exactly as the kernels walk them.
/// Varlen lengths come from args.seq_len_q/seq_len_k (host arrays) when set.
void emulate_flash(const ab_attention_args& args, const float* q, const float* k, const float* v,
                   float* o, int block_m, int block_n);

/// Split-K decode as decode_attention_kernel runs it: blocks of kDecodeRows packed rows
/// (RowMap) per (batch, KV head, split) stage their keys' K/V through the kernel's own
/// thread -> 16-byte load mapping (decode_replay.h; keys outside the block's range stay
/// zero), each row runs the online softmax over tiles of block_n (the kernel's 32), then
/// the LSE merge combines the splits. k/v are contiguous, or paged pools when
/// args.page_size > 0 (block_table is then the host copy of the block table; the pool
/// layout is args.kv_layout).
void emulate_decode(const ab_attention_args& args, const float* q, const float* k, const float* v,
                    const int32_t* block_table, float* o, const SplitPlan& plan, int block_n);

/// naive's three kernels in order over contiguous fp32 Q/K/V: the S row over the padded
/// len_k (masked and padded keys -inf), its softmax into P, then O = P V over the
/// sequence's own keys [0, seq_keys) only, as naive_pv_kernel reads them.
void emulate_naive(const ab_attention_args& args, const float* q, const float* k, const float* v,
                   float* o);

}  // namespace attnbench::gpu
