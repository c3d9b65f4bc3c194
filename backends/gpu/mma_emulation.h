// CPU emulation of the tensor-core flash kernel (mma_attention.cuh) lane by lane, built
// from the same host/device headers: cp.async chunk assignment with zero-fill into a
// swizzled shared-memory image (two K/V stages), ldmatrix.x4 through the lane-address
// model, mma.m16n8k16 through the fragment tables, the mask-free tile test, the base-2
// online softmax and the S-to-P register reuse. Tests compare it with the fp64 oracle, so
// the composition of the kernel's indices is checked without a GPU. Part of
// attnbench_gpu_host.
#pragma once

#include "attnbench/plugin_abi.h"

namespace attnbench::gpu {

/// The MMA flash kernel over contiguous fp32 Q/K/V (plugin_abi.h layouts; head_dim 64 or
/// 128), in fp32 (no 16-bit rounding of P or O). Varlen lengths come from
/// args.seq_len_q/seq_len_k (host arrays) when set; K/V rows past a sequence's keys may
/// hold NaN (they must never reach O). Shared memory starts every block as NaN, so a
/// read of a slot no copy wrote shows in O.
void emulate_mma_flash(const ab_attention_args& args, const float* q, const float* k, const float* v, float* o);

}  // namespace attnbench::gpu
