// measure_peaks for the GPU plugins: times the micro-kernels of peak_kernels.cuh
// with device events (best of a few runs after a warm-up).
#pragma once

#include "peak_kernels.cuh"
#include "plugin_context.h"

namespace attnbench::gpu {

/// Best time in seconds of `launch()` over `reps` event-timed runs (after one warm-up).
template <class F>
double best_time(Context* c, int reps, F launch) {
  launch();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    (void)gpuEventRecord(c->start, c->stream);
    launch();
    (void)gpuEventRecord(c->stop, c->stream);
    (void)gpuEventSynchronize(c->stop);
    float ms = 0.0f;
    (void)gpuEventElapsedTime(&ms, c->start, c->stop);
    if (ms > 0.0f && ms * 1e-3 < best) best = ms * 1e-3;
  }
  return best;
}

#if defined(AB_GPU_CUDA)
/// Whether flops_f16 is measured with wgmma: the device is sm_90 (Hopper) and the image the
/// runtime loaded for it was compiled for sm_90a (the sm_90 PTX JIT and other SASS have no
/// wgmma). Probed once per context by a rounds = 0 launch of wgmma_peak_kernel; any
/// failure means no (mma.sync), with the runtime error cleared.
inline bool wgmma_peak_usable(Context* c) {
  if (c->wgmma_peak >= 0) return c->wgmma_peak == 1;
  c->wgmma_peak = 0;
  if (c->prop.major != 9 || c->prop.minor != 0) return false;
  begin_call(c);
  void* raw = nullptr;
  if (scratch(c, 64, &raw) != AB_OK) return false;
  float* sink = static_cast<float*>(raw);
  float flag = 0.0f;
  gpuError_t e = gpuMemset(sink, 0, 2 * sizeof(float));
  if (e == gpuSuccess) {
    wgmma_peak_kernel<<<1, kWgmmaThreads, 0, c->stream>>>(0, sink);
    e = gpuGetLastError();
  }
  if (e == gpuSuccess) e = gpuStreamSynchronize(c->stream);
  if (e == gpuSuccess) e = gpuMemcpy(&flag, sink + 1, sizeof(float), gpuMemcpyDeviceToHost);
  (void)gpuGetLastError();
  c->wgmma_peak = e == gpuSuccess && flag == kWgmmaImagePresent ? 1 : 0;
  return c->wgmma_peak == 1;
}
#endif

/// Instruction measure_peaks times for flops_f16 on this device: "wgmma" (sm_90a),
/// "mma.sync" (CUDA sm_80+) or "none" (flops_f16 = 0: older NVIDIA GPUs, HIP).
inline const char* peak_f16_instruction(Context* c) {
#if defined(AB_GPU_CUDA)
  if (c->prop.major >= 8) return wgmma_peak_usable(c) ? "wgmma" : "mma.sync";
#else
  (void)c;
#endif
  return "none";
}

/// device_info plus, on CUDA, the instruction behind flops_f16 (ab_peaks has no text
/// field): " peak_f16=wgmma|mma.sync|none" appended to the driver string, so stored runs
/// say which peak their fractions of peak are against.
inline ab_status device_info_with_peaks(void* ctx, ab_device_info* out) {
  const ab_status s = device_info(ctx, out);
#if defined(AB_GPU_CUDA)
  if (s == AB_OK) {
    const size_t n = strlen(out->driver);
    snprintf(out->driver + n, sizeof(out->driver) - n, " peak_f16=%s",
             peak_f16_instruction(static_cast<Context*>(ctx)));
  }
#endif
  return s;
}

/// Measures fp32 FMA throughput, read bandwidth and (CUDA sm_80+) bf16 tensor-core
/// throughput: wgmma on sm_90a, mma.sync otherwise (peak_f16_instruction). The tensor
/// kernel is bf16; NVIDIA's dense f16 and bf16 rates are equal, so it fills both
/// flops_f16 and flops_bf16.
inline ab_status measure_peaks(void* ctx, ab_peaks* out) {
  auto* c = static_cast<Context*>(ctx);
  *out = ab_peaks{};
  begin_call(c);
#if defined(AB_GPU_CUDA)
  const bool wgmma = c->prop.major >= 8 && wgmma_peak_usable(c);  // probes once, before sink is taken
#endif
  const int sms = c->prop.multiProcessorCount;
  float* sink = nullptr;
  void* sink_raw = nullptr;
  if (const ab_status s = scratch(c, 64, &sink_raw); s != AB_OK) return s;
  sink = static_cast<float*>(sink_raw);

  const int threads = 256, blocks = sms * 16;
  const double fma_s = best_time(c, 3, [&] {
    fma_peak_kernel<<<blocks, threads, 0, c->stream>>>(1.0f, sink);
  });
  out->flops_f32 = 2.0 * kFmaChains * kPeakIters * double(blocks) * threads / fma_s;

  // A read larger than any last-level cache: a quarter of memory, at most 1 GiB.
  size_t bytes = c->prop.totalGlobalMem / 4;
  if (bytes > (size_t(1) << 30)) bytes = size_t(1) << 30;
  void* data = nullptr;
  gpuError_t e = gpuMalloc(&data, bytes);
  if (e != gpuSuccess) {
    (void)gpuGetLastError();  // a failed allocation must not read as the next call's kernel failure
    return fail(c, status_of(e), "allocating the bandwidth buffer", e);
  }
  (void)gpuMemset(data, 0, bytes);
  const double read_s = best_time(c, 5, [&] {
    read_peak_kernel<<<sms * 8, 512, 0, c->stream>>>(static_cast<const float4*>(data), bytes / 16, sink);
  });
  (void)gpuFree(data);
  out->bytes_per_second = double(bytes) / read_s;
  out->cache_bytes = double(c->prop.l2CacheSize);  // what --cold writes twice over between calls

#if defined(AB_GPU_CUDA)
  if (wgmma) {
    // Exactly the warpgroups that are resident at once (one wave): a partial second wave
    // would read as lower throughput.
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, wgmma_peak_kernel, kWgmmaThreads, 0) !=
            gpuSuccess ||
        per_sm < 1) {
      (void)gpuGetLastError();
      per_sm = 1;
    }
    const int wg_blocks = sms * per_sm;
    const double wg_s = best_time(c, 3, [&] {
      wgmma_peak_kernel<<<wg_blocks, kWgmmaThreads, 0, c->stream>>>(kWgmmaRounds, sink);
    });
    out->flops_f16 = kWgmmaFlops * kWgmmaPerCommit * kWgmmaRounds * double(wg_blocks) / wg_s;
  } else if (c->prop.major >= 8) {
    const int warps = 8, mma_blocks = sms * 4;
    const double mma_s = best_time(c, 3, [&] {
      mma_peak_kernel<<<mma_blocks, warps * 32, 0, c->stream>>>(0x3f803f80u, sink);
    });
    out->flops_f16 = 4096.0 * kMmaChains * kPeakIters * double(mma_blocks) * warps / mma_s;
  }
  out->flops_bf16 = out->flops_f16;
#endif
  e = gpuGetLastError();
  return e == gpuSuccess ? AB_OK : fail(c, status_of(e), "peak kernels", e);
}

}  // namespace attnbench::gpu
