// Peaks measured through oneDNN (matrix rate) and a STREAM-like read (bandwidth). Each is
// the best of several trials: the machine may be shared, and the first trial also pays
// for waking the OpenMP threads and faulting pages in.
#include "onednn_peaks.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "attnbench/host_cache.h"

namespace attnbench::onednn {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Fills a oneDNN-owned buffer with one element value (valid in any blocked layout).
void fill_value(dnnl::memory& m, ab_dtype t) {
  const size_t bytes = m.get_desc().get_size();
  auto* p = static_cast<unsigned char*>(m.get_data_handle());
  if (t == AB_F32) {
    const float one = 0.5f;
    for (size_t i = 0; i + 4 <= bytes; i += 4) std::memcpy(p + i, &one, 4);
  } else {
    const uint16_t half = t == AB_BF16 ? 0x3f00 : 0x3800;  // 0.5 in bf16 / fp16
    for (size_t i = 0; i + 2 <= bytes; i += 2) std::memcpy(p + i, &half, 2);
  }
}

volatile float g_sink;  // keeps the read loop from being optimised away

}  // namespace

double measure_gemm_rate(const dnnl::engine& eng, dnnl::stream& strm, ab_dtype t) {
  using dt = dnnl::memory::data_type;
  const dt type = t == AB_F32 ? dt::f32 : t == AB_BF16 ? dt::bf16 : dt::f16;
  // 16-bit types run up to 2x faster, so they get a larger problem for the same time.
  const int64_t n = t == AB_F32 ? 1024 : 1536;
  try {
    const dnnl::memory::desc a_md({n, n}, type, dnnl::memory::format_tag::ab);
    const dnnl::memory::desc b_any({n, n}, type, dnnl::memory::format_tag::any);
    const dnnl::memory::desc c_md({n, n}, dt::f32, dnnl::memory::format_tag::ab);
    // Weights in the layout the kernel prefers (packed once, as a framework's weights are).
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), eng);
    dnnl::memory a(a_md, eng), b(pd.weights_desc(), eng), c(c_md, eng);
    fill_value(a, t);
    fill_value(b, t);
    const dnnl::matmul mm(pd);
    double best = 1e30, total = 0;
    for (int rep = 0; rep < 40 && (rep < 4 || total < 0.5); ++rep) {
      const auto t0 = Clock::now();
      mm.execute(strm, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
      strm.wait();
      const double dt_s = seconds_since(t0);
      if (rep > 0) best = std::min(best, dt_s);  // rep 0 warms the threads
      total += dt_s;
    }
    return 2.0 * n * n * n / best;
  } catch (const dnnl::error&) {
    return 0;  // no matmul of this type here
  }
}

double measure_read_bandwidth() {
  const size_t bytes = std::clamp<size_t>(4 * host_last_level_cache_bytes(), size_t{256} << 20, size_t{2} << 30);
  const size_t n = bytes / sizeof(float);
  auto* p = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (!p) return 0;
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) p[i] = 1.0f;  // faults pages in on the threads that read them
  constexpr int kLanes = 16;  // independent sums: the compiler vectorises the lane loop
  double best = 1e30;
  for (int trial = 0; trial < 4; ++trial) {
    float total = 0;
    const auto t0 = Clock::now();
#pragma omp parallel reduction(+ : total)
    {
      float acc[kLanes] = {};
#pragma omp for schedule(static)
      for (size_t i = 0; i < n / kLanes; ++i)
        for (int l = 0; l < kLanes; ++l) acc[l] += p[i * kLanes + l];
      for (float x : acc) total += x;
    }
    best = std::min(best, seconds_since(t0));
    g_sink = total;
  }
  std::free(p);
  return static_cast<double>(n / kLanes * kLanes) * sizeof(float) / best;
}

}  // namespace attnbench::onednn
