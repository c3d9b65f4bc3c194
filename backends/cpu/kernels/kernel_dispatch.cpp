// Run-time choice of the kernels' ISA level: the best level this CPU (and OS) supports
// among those built, capped by ATTNBENCH_CPU_ISA, picked once. Compiled for the
// baseline; the levels' tables are declared here by name, as each level's namespace
// only exists inside its own objects.
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "isa_table.h"

namespace attnbench::cpu {

#if defined(AB_CPU_HAVE_X86_LEVELS)
namespace avx2 { const IsaKernels& isa_kernels(); }
namespace avx512 { const IsaKernels& isa_kernels(); }
#if defined(AB_CPU_HAVE_BF16_LEVEL)
namespace avx512bf16 { const IsaKernels& isa_kernels(); }
#endif
#endif
namespace generic { const IsaKernels& isa_kernels(); }

namespace {

/// The best level among those this build compiled, for a CPU whose own best is `cpu`.
Isa best_built(Isa cpu) {
#if defined(AB_CPU_HAVE_BF16_LEVEL)
  const Isa top = Isa::avx512bf16;
#elif defined(AB_CPU_HAVE_X86_LEVELS)
  const Isa top = Isa::avx512;
#else
  const Isa top = Isa::generic;
#endif
  return cpu < top ? cpu : top;
}

/// The level named by `s`, or `fallback` for an unknown name.
Isa parse_isa(const char* s, Isa fallback) {
  for (Isa i : {Isa::generic, Isa::avx2, Isa::avx512, Isa::avx512bf16})
    if (std::strcmp(s, isa_name(i)) == 0) return i;
  return fallback;
}

}  // namespace

Isa cpu_isa() {
  static const Isa isa = [] {
    Isa best = Isa::generic;
#if defined(__x86_64__) || defined(_M_X64)
    __builtin_cpu_init();
    // The features of the -march each level is built with (x86-64-v3, -v4), spelled out
    // (clang's __builtin_cpu_supports has no level names); libgcc also checks that the OS
    // saves the ymm / zmm state (XGETBV).
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                    __builtin_cpu_supports("avx512cd");
    best = v4 ? Isa::avx512 : v3 ? Isa::avx2 : Isa::generic;
    if (v4 && __builtin_cpu_supports("avx512bf16")) best = Isa::avx512bf16;
#endif
    return best;
  }();
  return isa;
}

Isa best_isa() {
  static const Isa isa = best_built(cpu_isa());
  return isa;
}

Isa active_isa() {
  static const Isa isa = [] {
    const Isa best = best_isa();
    const char* cap = std::getenv("ATTNBENCH_CPU_ISA");
    if (!cap || !*cap) return best;
    const Isa want = parse_isa(cap, best);
    return want < best ? want : best;
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512bf16: return "avx512bf16";
    default: return "generic";
  }
}

const IsaKernels& kernels_of(Isa isa) {
  if (isa > best_isa()) throw std::logic_error(std::string("ISA level ") + isa_name(isa) + " is not available");
  switch (isa) {
#if defined(AB_CPU_HAVE_X86_LEVELS)
    case Isa::avx2: return avx2::isa_kernels();
    case Isa::avx512: return avx512::isa_kernels();
#if defined(AB_CPU_HAVE_BF16_LEVEL)
    case Isa::avx512bf16: return avx512bf16::isa_kernels();
#endif
#endif
    default: return generic::isa_kernels();
  }
}

const IsaKernels& active_kernels() {
  static const IsaKernels& k = kernels_of(active_isa());
  return k;
}

}  // namespace attnbench::cpu
