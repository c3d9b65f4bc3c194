// The instruction-set namespace of the CPU kernel code. Every kernel source is compiled
// once per ISA level (backends/cpu/CMakeLists.txt: -march=x86-64, -v3, -v4, -v4 +
// AVX512-BF16), and the code of each copy must have its own symbols: the same inline
// function or class compiled with different -march flags under one name would break the
// one-definition rule (the linker keeps one copy, possibly an AVX-512 one for a caller
// that runs on an AVX2 CPU). So the level's name, derived from the compiler's own target
// macros, is an inline namespace inside attnbench::cpu: code keeps saying cpu::foo, and a
// translation unit built at the baseline (a test, the harness) sees cpu::generic::foo.
// The run-time choice between the levels is kernel_dispatch.cpp's.
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512BF16__)
#define AB_CPU_ISA avx512bf16
#elif defined(__AVX512F__) && defined(__AVX512BW__)
#define AB_CPU_ISA avx512
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define AB_CPU_ISA avx2
#else
#define AB_CPU_ISA generic
#endif

#define AB_CPU_STR2(x) #x
#define AB_CPU_STR(x) AB_CPU_STR2(x)
/// Name of the level this translation unit is compiled for ("avx512bf16", ...).
#define AB_CPU_ISA_NAME AB_CPU_STR(AB_CPU_ISA)

// The expected level, passed by CMake to the per-level objects: a mismatch means the
// level's -march flags do not give the target macros the namespace is named after.
#if defined(AB_CPU_ISA_EXPECT)
#define AB_CPU_ISA_CHECK_avx512bf16_avx512bf16 1
#define AB_CPU_ISA_CHECK_avx512_avx512 1
#define AB_CPU_ISA_CHECK_avx2_avx2 1
#define AB_CPU_ISA_CHECK_generic_generic 1
#define AB_CPU_ISA_CAT2(a, b) AB_CPU_ISA_CHECK_##a##_##b
#define AB_CPU_ISA_CAT(a, b) AB_CPU_ISA_CAT2(a, b)
#if !AB_CPU_ISA_CAT(AB_CPU_ISA, AB_CPU_ISA_EXPECT)
#error "the -march flags of this ISA level do not select the namespace CMake expects"
#endif
#endif

#define AB_CPU_NS_BEGIN namespace attnbench::cpu { inline namespace AB_CPU_ISA {
#define AB_CPU_NS_END } }
