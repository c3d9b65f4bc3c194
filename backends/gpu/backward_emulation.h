// CPU emulation of the GPU backward kernels (backward_attention.cuh), built from the same
// shared headers (backward_math.h, launch_plan.h, kv_addressing.h, kernel_math.h): the
// flash kernel's key blocks, query tiles, query range of a key block and P / dS rule, and
// naive's materialised P and dS. Tests compare it with the fp64 gradient oracle so the
// device logic is checked on machines without a GPU. Part of attnbench_gpu_host.
#pragma once

#include "attnbench/plugin_abi.h"

namespace attnbench::gpu {

/// The fp32 inputs and outputs of one emulated backward call (layouts of plugin_abi.h,
/// contiguous KV, values already rounded to the storage type by the caller). Outputs are
/// the fp32 values the kernels round to the storage type when they store them.
struct BackwardTensors {
  const float *q, *k, *v, *o, *lse, *d_o;
  float *d_q, *d_k, *d_v;
};

/// flash backward as flash_bwd_kernel tiles it (BwdTile of the head dim's instantiation):
/// D per row, then per (batch, KV head, key block) dK and dV summed over the group's query
/// heads and the query tiles that see the block, dQ accumulated across key blocks in fp32.
void emulate_flash_backward(const ab_attention_args& args, const BackwardTensors& t);

/// naive backward as its four kernels run: D per row, P and dS for every (row, key), then
/// dQ = scale dS K per row and dK = scale dS^T Q, dV = P^T dO per key (group heads in order).
void emulate_naive_backward(const ab_attention_args& args, const BackwardTensors& t);

}  // namespace attnbench::gpu
