// Micro-kernels that measure a device's peaks for roofline reports: fp32 FMA
// throughput, device-memory read bandwidth and (CUDA sm_80+) bf16 tensor-core
// throughput. Device TU only (C++17).
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
#endif

}  // namespace attnbench::gpu
