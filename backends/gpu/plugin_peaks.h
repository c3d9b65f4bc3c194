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

/// Measures fp32 FMA throughput, read bandwidth and (CUDA sm_80+) bf16 MMA throughput.
inline ab_status measure_peaks(void* ctx, ab_peaks* out) {
  auto* c = static_cast<Context*>(ctx);
  *out = ab_peaks{0.0, 0.0, 0.0};
  begin_call(c);
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

#if defined(AB_GPU_CUDA)
  if (c->prop.major >= 8) {
    const int warps = 8, mma_blocks = sms * 4;
    const double mma_s = best_time(c, 3, [&] {
      mma_peak_kernel<<<mma_blocks, warps * 32, 0, c->stream>>>(0x3f803f80u, sink);
    });
    out->flops_f16 = 4096.0 * kMmaChains * kPeakIters * double(mma_blocks) * warps / mma_s;
  }
#endif
  e = gpuGetLastError();
  return e == gpuSuccess ? AB_OK : fail(c, status_of(e), "peak kernels", e);
}

}  // namespace attnbench::gpu
