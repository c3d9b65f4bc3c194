// CPU emulation of the GPU backends' KV primitives (ab_kv_ops): the same argument checks
// (kv_validate.h), the same per-element work items (kv_score.h, kv_select.h, kv_quant.h)
// and the same block algorithms (radix-select top-k, tiled online-softmax quantised
// decode) run sequentially, so tests check the device code paths without a GPU.
// Buffers in the argument structs are host pointers, as with the CPU plugin.
// Part of attnbench_gpu_host.
#pragma once

#include <cstddef>
#include <string>

#include "attnbench/plugin_abi.h"

namespace attnbench::gpu {

/// Each returns AB_OK, or AB_INVALID_ARGUMENT / AB_UNSUPPORTED with the reason in *error
/// (the GPU plugin's message for the same arguments).
ab_status emulate_kv_observation_scores(const ab_kv_score_args& a, std::string* error);
ab_status emulate_kv_statistics(const ab_kv_stat_args& a, std::string* error);
ab_status emulate_kv_topk(const ab_kv_topk_args& a, std::string* error);
ab_status emulate_kv_dot(const ab_kv_dot_args& a, std::string* error);
ab_status emulate_kv_compact(const ab_kv_compact_args& a, std::string* error);
ab_status emulate_kv_quant_bytes(const ab_kv_quant_args& a, size_t* bytes, std::string* error);
ab_status emulate_kv_quantize(const ab_kv_quant_args& a, std::string* error);
ab_status emulate_kv_quant_decode(const ab_kv_quant_decode_args& a, std::string* error);

}  // namespace attnbench::gpu
