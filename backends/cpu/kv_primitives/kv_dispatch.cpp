// Runtime dispatch of the KV primitives: picks the ISA level once (CPU features, capped
// by ATTNBENCH_CPU_KV_ISA) and routes every run() to that level's kernel.
#include <cstdlib>
#include <cstring>

#include "kv_isa.h"
#include "kv_primitives.h"
#include "quant_layout.h"

namespace attnbench::cpu::kv {
namespace {

Isa detect() {
  Isa best = Isa::generic;
#if defined(AB_KV_HAVE_X86_LEVELS)
  __builtin_cpu_init();
#if defined(__clang__)
  // Clang's names for the features of x86-64-v3 / v4 that the kernels are built with.
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
  const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  const bool v3 = __builtin_cpu_supports("x86-64-v3");
  const bool v4 = __builtin_cpu_supports("x86-64-v4");
#endif
  best = v4 ? Isa::avx512 : v3 ? Isa::avx2 : Isa::generic;
#endif
  if (const char* cap = std::getenv("ATTNBENCH_CPU_KV_ISA")) {
    const Isa want = std::strcmp(cap, "generic") == 0 ? Isa::generic : std::strcmp(cap, "avx2") == 0 ? Isa::avx2 : best;
    if (want < best) best = want;
  }
  return best;
}

}  // namespace

Isa active_isa() {
  static const Isa isa = detect();
  return isa;
}

const char* isa_name(Isa isa) { return isa == Isa::avx512 ? "avx512" : isa == Isa::avx2 ? "avx2" : "generic"; }

#if defined(AB_KV_HAVE_X86_LEVELS)
#define AB_KV_DISPATCH(FN, ARGS)                      \
  switch (active_isa()) {                             \
    case Isa::avx512: avx512::FN(ARGS); return;       \
    case Isa::avx2: avx2::FN(ARGS); return;           \
    default: generic::FN(ARGS); return;               \
  }
#else
#define AB_KV_DISPATCH(FN, ARGS) generic::FN(ARGS);
#endif

void run(const ab_kv_score_args& a) { AB_KV_DISPATCH(observation_scores, a) }
void run(const ab_kv_stat_args& a) { AB_KV_DISPATCH(statistics, a) }
void run(const ab_kv_dot_args& a) { AB_KV_DISPATCH(dot, a) }
void run(const ab_kv_quant_args& a) { AB_KV_DISPATCH(quantize, a) }
void run(const ab_kv_quant_decode_args& a) { AB_KV_DISPATCH(quant_decode, a) }
void run(const ab_kv_topk_args& a) { topk_kernel(a); }
void run(const ab_kv_compact_args& a) { compact_kernel(a); }

size_t quant_cache_bytes(const ab_kv_quant_args& a) {
  size_t total = 0;
  cache_layout(a.heads_kv, a.len_k, a.head_dim, a.spec, a.len_per_head, &total);
  return total;
}

}  // namespace attnbench::cpu::kv
