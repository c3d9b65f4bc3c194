// One spelling for the CUDA and HIP runtimes and device intrinsics, so the kernels
// and the plugin shim in backends/gpu/ compile unchanged with nvcc and hipcc.
// Device translation units only (C++17); never include fmt or nlohmann-json here.
#pragma once

#include <stdint.h>

#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#define AB_GPU_HIP 1
#define AB_GPU_RUNTIME_NAME "HIP"
using gpuError_t = hipError_t;
using gpuStream_t = hipStream_t;
using gpuEvent_t = hipEvent_t;
using gpuDeviceProp_t = hipDeviceProp_t;
#define gpuSuccess hipSuccess
#define gpuErrorMemoryAllocation hipErrorOutOfMemory
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuSetDevice hipSetDevice
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuDriverGetVersion hipDriverGetVersion
#define gpuRuntimeGetVersion hipRuntimeGetVersion
#define gpuMalloc hipMalloc
#define gpuMemGetInfo hipMemGetInfo
#define gpuFree hipFree
#define gpuMemcpy hipMemcpy
#define gpuMemset hipMemset
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuStreamCreate hipStreamCreate
#define gpuStreamDestroy hipStreamDestroy
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuEventCreate hipEventCreate
#define gpuEventDestroy hipEventDestroy
#define gpuEventRecord hipEventRecord
#define gpuEventSynchronize hipEventSynchronize
#define gpuEventElapsedTime hipEventElapsedTime
#define gpuGetLastError hipGetLastError
#define gpuGetErrorString hipGetErrorString
#define gpuDeviceSynchronize hipDeviceSynchronize
#else
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#define AB_GPU_CUDA 1
#define AB_GPU_RUNTIME_NAME "CUDA"
using gpuError_t = cudaError_t;
using gpuStream_t = cudaStream_t;
using gpuEvent_t = cudaEvent_t;
using gpuDeviceProp_t = cudaDeviceProp;
#define gpuSuccess cudaSuccess
#define gpuErrorMemoryAllocation cudaErrorMemoryAllocation
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuSetDevice cudaSetDevice
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuDriverGetVersion cudaDriverGetVersion
#define gpuRuntimeGetVersion cudaRuntimeGetVersion
#define gpuMalloc cudaMalloc
#define gpuMemGetInfo cudaMemGetInfo
#define gpuFree cudaFree
#define gpuMemcpy cudaMemcpy
#define gpuMemset cudaMemset
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuStreamCreate cudaStreamCreate
#define gpuStreamDestroy cudaStreamDestroy
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuEventCreate cudaEventCreate
#define gpuEventDestroy cudaEventDestroy
#define gpuEventRecord cudaEventRecord
#define gpuEventSynchronize cudaEventSynchronize
#define gpuEventElapsedTime cudaEventElapsedTime
#define gpuGetLastError cudaGetLastError
#define gpuGetErrorString cudaGetErrorString
#define gpuDeviceSynchronize cudaDeviceSynchronize
#endif

namespace attnbench::gpu {

// Warp (wavefront) width as the device pass compiles it: 32 on NVIDIA and RDNA
// (gfx10+ in wave32), 64 on CDNA (gfx908/gfx90a). Host code must ask the device
// (warpSize property) instead: the host pass cannot know which target runs.
// An AMD device pass must know its wave size: a silent 32 on a wave64 target would
// break every kernel (reductions and shuffles over half a wave), so a compiler that
// no longer defines the macro (deprecated in LLVM 20) is a build error, not a guess.
#if defined(__AMDGCN_WAVEFRONT_SIZE__)
constexpr int kWarpSize = __AMDGCN_WAVEFRONT_SIZE__;
#elif defined(__AMDGCN_WAVEFRONT_SIZE)
constexpr int kWarpSize = __AMDGCN_WAVEFRONT_SIZE;
#elif defined(__HIP_DEVICE_COMPILE__) && (defined(__AMDGCN__) || defined(__HIP_PLATFORM_AMD__))
#error "AMD device pass without __AMDGCN_WAVEFRONT_SIZE: the wave size (32 or 64) of this target is unknown; kWarpSize needs another source of it on this compiler"
#else
constexpr int kWarpSize = 32;
#endif

/// Butterfly exchange within a warp (all lanes participate).
__device__ __forceinline__ float shfl_xor(float v, int mask) {
#if defined(AB_GPU_HIP)
  return __shfl_xor(v, mask);
#else
  return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

/// Value of `v` held by lane `src` (all lanes participate).
__device__ __forceinline__ float shfl(float v, int src) {
#if defined(AB_GPU_HIP)
  return __shfl(v, src);
#else
  return __shfl_sync(0xffffffffu, v, src);
#endif
}

/// Storage tags for 16-bit element types, kept as raw bits so one kernel source
/// needs neither cuda_bf16.h nor hip_bfloat16 (whose APIs differ).
struct Bf16 { uint16_t bits; };
struct F16 { uint16_t bits; };

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(Bf16 x) {
  return __uint_as_float(static_cast<uint32_t>(x.bits) << 16);
}
__device__ __forceinline__ float to_float(F16 x) {
#if defined(AB_GPU_HIP)
  return static_cast<float>(__builtin_bit_cast(_Float16, x.bits));
#else
  return __half2float(__ushort_as_half(x.bits));
#endif
}

/// fp32 -> storage type, round to nearest even (matches attnbench/dtype.h).
template <class T> __device__ __forceinline__ T from_float(float x);
template <> __device__ __forceinline__ float from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ Bf16 from_float<Bf16>(float x) {
  uint32_t u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return Bf16{static_cast<uint16_t>((u >> 16) | 0x40u)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return Bf16{static_cast<uint16_t>(u >> 16)};
}
template <> __device__ __forceinline__ F16 from_float<F16>(float x) {
#if defined(AB_GPU_HIP)
  return F16{__builtin_bit_cast(uint16_t, static_cast<_Float16>(x))};
#else
  return F16{__half_as_ushort(__float2half_rn(x))};
#endif
}

}  // namespace attnbench::gpu
