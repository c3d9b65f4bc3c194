// Micro-kernels that measure a device's peaks for roofline reports: fp32 FMA
// throughput, device-memory read bandwidth and (CUDA sm_80+) bf16 tensor-core
// throughput (mma.sync; wgmma on sm_90a). Device TU only (C++17).
#pragma once

#include "gpu_compat.h"
#if defined(AB_GPU_CUDA)
#include "mma_attention.cuh"
#endif

namespace attnbench::gpu {

constexpr int kFmaChains = 8;   // independent chains hide FMA latency
constexpr int kPeakIters = 2048;

/// Each thread runs kFmaChains dependent FMA chains of kPeakIters steps.
__global__ void fma_peak_kernel(float seed, float* sink) {
  float a[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) a[c] = seed + c + threadIdx.x;
  for (int i = 0; i < kPeakIters; ++i)
    for (int c = 0; c < kFmaChains; ++c) a[c] = fmaf(a[c], 0.999f, 0.001f);
  float s = 0.0f;
  for (int c = 0; c < kFmaChains; ++c) s += a[c];
  if (s == 12345.678f) sink[0] = s;  // never true; keeps the chains alive
}

/// Reads n float4 values (grid-stride) so time / bytes gives read bandwidth.
__global__ void read_peak_kernel(const float4* data, size_t n, float* sink) {
  float s = 0.0f;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float4 x = data[i];
    s += x.x + x.y + x.z + x.w;
  }
  if (s == 12345.678f) sink[0] = s;
}

#if defined(AB_GPU_CUDA)
constexpr int kMmaChains = 4;
/// Each warp issues kPeakIters x kMmaChains bf16 m16n8k16 MMAs (4096 flops each).
__global__ void mma_peak_kernel(uint32_t seed, float* sink) {
  float c[kMmaChains][4] = {};
  const uint32_t a[4] = {seed, seed + 1, seed + 2, seed + 3};
  for (int i = 0; i < kPeakIters; ++i)
    for (int k = 0; k < kMmaChains; ++k) mma_16816<Bf16>(c[k], a, seed ^ i, seed + k);
  float s = 0.0f;
  for (int k = 0; k < kMmaChains; ++k) s += c[k][0] + c[k][1] + c[k][2] + c[k][3];
  if (s == 12345.678f) sink[0] = s;
}

// Hopper (sm_90a only): warpgroup MMA. mma.sync reaches about 2/3 of an H100's or H200's
// dense bf16 peak, so a roofline against it would read 1.5x too high there; the plugin
// measures flops_f16 with wgmma.mma_async when the device is sm_90 and the loaded image
// was compiled for sm_90a (wgmma_peak_kernel's probe says so), else with mma.sync.
constexpr int kWgmmaN = 256;           // m64n256k16: 128 fp32 accumulators per thread
constexpr int kWgmmaPerCommit = 16;    // wgmmas issued between a commit and its wait
constexpr int kWgmmaRounds = 1024;     // commit groups per warpgroup in a timed launch (~3 ms on H100)
constexpr double kWgmmaFlops = 2.0 * 64 * kWgmmaN * 16;  // one m64n256k16
constexpr int kWgmmaThreads = 128;     // one warpgroup per block
// Probe result written to sink[1] by a launch with rounds = 0 (sink zeroed before).
constexpr float kWgmmaImagePresent = 1.0f;

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
/// Shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format") without
/// swizzling: start address, leading (K) and stride (M/N) byte offsets of the 8x8 core
/// matrices, all in units of 16 bytes; bits 62-63 = 0 selects the interleaved layout.
__device__ __forceinline__ uint64_t wgmma_smem_desc(const void* smem, uint32_t lead_bytes,
                                                    uint32_t stride_bytes) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) |
         (static_cast<uint64_t>((lead_bytes >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((stride_bytes >> 4) & 0x3FFFu) << 32);
}

#define AB_WGMMA_ACC8(i)                                                                  \
  "+f"(d[(i) + 0]), "+f"(d[(i) + 1]), "+f"(d[(i) + 2]), "+f"(d[(i) + 3]), "+f"(d[(i) + 4]), \
      "+f"(d[(i) + 5]), "+f"(d[(i) + 6]), "+f"(d[(i) + 7])

/// d (64x256 fp32, 128 registers per thread of the warpgroup) += A (64x16 bf16, smem)
/// * B (16x256 bf16, smem), both K-major (no transpose), scale-d = 1.
__device__ __forceinline__ void wgmma_m64n256k16_bf16(float* d, uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15,"
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31,"
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47,"
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63,"
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79,"
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95,"
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111,"
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
      "}, %128, %129, p, 1, 1, 0, 0;\n"
      "}\n"
      : AB_WGMMA_ACC8(0), AB_WGMMA_ACC8(8), AB_WGMMA_ACC8(16), AB_WGMMA_ACC8(24), AB_WGMMA_ACC8(32),
        AB_WGMMA_ACC8(40), AB_WGMMA_ACC8(48), AB_WGMMA_ACC8(56), AB_WGMMA_ACC8(64), AB_WGMMA_ACC8(72),
        AB_WGMMA_ACC8(80), AB_WGMMA_ACC8(88), AB_WGMMA_ACC8(96), AB_WGMMA_ACC8(104), AB_WGMMA_ACC8(112),
        AB_WGMMA_ACC8(120)
      : "l"(desc_a), "l"(desc_b), "r"(1));
}
#undef AB_WGMMA_ACC8
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

/// One warpgroup per block issues `rounds` x kWgmmaPerCommit m64n256k16 bf16 wgmmas into
/// one accumulator set (operands in shared memory, values +-1 and 0.5). rounds = 0 is the
/// probe: block 0 writes kWgmmaImagePresent to sink[1] when this image has wgmma (sm_90a);
/// any other image leaves sink[1] alone and does nothing, so the host falls back to
/// mma_peak_kernel.
__global__ void __launch_bounds__(kWgmmaThreads) wgmma_peak_kernel(int rounds, float* sink) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  // No-swizzle K-major layout: 8 rows x 16 bytes per core matrix; the two core matrices
  // of a row group (k 0-7, 8-15) are 128 bytes apart, row groups 256 bytes apart.
  __shared__ __align__(128) uint16_t sA[64 * 16];
  __shared__ __align__(128) uint16_t sB[kWgmmaN * 16];
  if (rounds == 0) {
    if (threadIdx.x == 0 && blockIdx.x == 0) sink[1] = kWgmmaImagePresent;
    return;
  }
  for (int i = threadIdx.x; i < 64 * 16; i += blockDim.x) sA[i] = (i & 1) ? 0x3f80u : 0xbf80u;  // +-1
  for (int i = threadIdx.x; i < kWgmmaN * 16; i += blockDim.x) sB[i] = 0x3f00u;                // 0.5
  // Generic-proxy stores must be visible to the async proxy wgmma reads through.
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
  __syncthreads();
  const uint64_t da = wgmma_smem_desc(sA, 128, 256), db = wgmma_smem_desc(sB, 128, 256);
  float d[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) d[i] = 0.0f;
  for (int r = 0; r < rounds; ++r) {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int k = 0; k < kWgmmaPerCommit; ++k) wgmma_m64n256k16_bf16(d, da, db);
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#pragma unroll
    for (int i = 0; i < 128; ++i) asm volatile("" : "+f"(d[i])::"memory");  // no reads before the wait
  }
  float s = 0.0f;
#pragma unroll
  for (int i = 0; i < 128; ++i) s += d[i];
  if (s == 12345.678f) sink[0] = s;
#else
  (void)rounds;
  (void)sink;
#endif
}
#endif

}  // namespace attnbench::gpu
