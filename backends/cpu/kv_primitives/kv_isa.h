// Runtime ISA dispatch of the KV primitive kernels. The kernels that vectorise
// (observation_scores, statistics, dot, quantize, quant_decode) are compiled once per
// instruction-set level into their own namespace; active_isa() picks the best level this
// CPU (and OS) supports, so the plugin never depends on the -march of the build machine.
// ATTNBENCH_CPU_KV_ISA=generic|avx2|avx512 caps the level (the tests run every path).
#pragma once

#include "attnbench/plugin_abi.h"

namespace attnbench::cpu::kv {

/// Instruction-set levels, lowest first.
enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

/// The level the kernels run at: the best this CPU supports, capped by the environment
/// variable ATTNBENCH_CPU_KV_ISA (read once).
Isa active_isa();

/// "generic", "avx2" or "avx512".
const char* isa_name(Isa isa);

// Kernel entry points, one set per level. Arguments are validated by the caller
// (kv_validate.cpp); buffers are host pointers; parallel loops use the caller's arena.
#define AB_KV_DECLARE_ISA_KERNELS(NS)                            \
  namespace NS {                                                 \
  void observation_scores(const ab_kv_score_args& a);            \
  void statistics(const ab_kv_stat_args& a);                     \
  void dot(const ab_kv_dot_args& a);                             \
  void quantize(const ab_kv_quant_args& a);                      \
  void quant_decode(const ab_kv_quant_decode_args& a);           \
  }
AB_KV_DECLARE_ISA_KERNELS(generic)
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(AB_CPU_SINGLE_LEVEL)
#define AB_KV_HAVE_X86_LEVELS 1
AB_KV_DECLARE_ISA_KERNELS(avx2)
AB_KV_DECLARE_ISA_KERNELS(avx512)
#endif
#undef AB_KV_DECLARE_ISA_KERNELS

/// ISA-independent kernels (no vector arithmetic worth specialising).
void topk_kernel(const ab_kv_topk_args& a);
void compact_kernel(const ab_kv_compact_args& a);

}  // namespace attnbench::cpu::kv
