// Qualifiers that let one header serve host C++20 code and CUDA/HIP C++17 device code.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define AB_HOST_DEVICE __host__ __device__
#define AB_INLINE __host__ __device__ __forceinline__
#else
#define AB_HOST_DEVICE
#define AB_INLINE inline
#endif
