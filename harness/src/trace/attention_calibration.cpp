#include "attention_calibration.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

namespace attnbench::trace {

void StatSummary::add(double x) {
  min = count ? std::min(min, x) : x;
  max = count ? std::max(max, x) : x;
  mean = (mean * static_cast<double>(count) + x) / static_cast<double>(count + 1);
  ++count;
}

std::vector<HeadStats> head_statistics(const recall::RecallCase& rc) {
  const int Hq = rc.heads_q, Lk = rc.len_k, d = rc.head_dim, g = Hq / rc.heads_kv;
  const int lo = Lk / 2, n_rows = std::min(kCalibrationRows, Lk - lo);
  std::vector<HeadStats> out(Hq);
  tbb::parallel_for(0, Hq, [&](int h) {
    const float* K = &rc.k[static_cast<size_t>(h / g) * Lk * d];
    std::vector<double> p(Lk), received(Lk, 0.0), norm(Lk);
    for (int t = 0; t < Lk; ++t) {
      double s = 0;
      for (int c = 0; c < d; ++c) s += static_cast<double>(K[static_cast<size_t>(t) * d + c]) * K[static_cast<size_t>(t) * d + c];
      norm[t] = std::sqrt(s);
    }
    HeadStats& st = out[h];
    for (int r = 0; r < n_rows; ++r) {
      const int t = lo + static_cast<int>((static_cast<int64_t>(r) * (Lk - lo)) / n_rows);
      const float* q = &rc.q_context[(static_cast<size_t>(h) * Lk + t) * d];
      double mx = -INFINITY, z = 0;
      for (int j = 0; j <= t; ++j) {
        double s = 0;
        for (int c = 0; c < d; ++c) s += static_cast<double>(q[c]) * K[static_cast<size_t>(j) * d + c];
        mx = std::max(mx, p[j] = s / std::sqrt(static_cast<double>(d)));
      }
      for (int j = 0; j <= t; ++j) z += (p[j] = std::exp(p[j] - mx));
      double sink = 0, recent = 0, ent = 0;
      for (int j = 0; j <= t; ++j) {
        const double a = p[j] / z;
        if (j < 4) sink += a;
        if (j > t - 64) recent += a;
        if (a > 0) ent -= a * std::log(a);
        received[j] += a;
      }
      st.sink_mass += sink / n_rows, st.recent_mass += recent / n_rows, st.entropy += ent / n_rows;
    }
    // Pearson correlation of key norm and attention received, over the keys every row sees.
    const int n = lo + 1;
    double mn = 0, mr = 0;
    for (int j = 0; j < n; ++j) mn += norm[j] / n, mr += received[j] / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int j = 0; j < n; ++j) {
      sxy += (norm[j] - mn) * (received[j] - mr), sxx += (norm[j] - mn) * (norm[j] - mn);
      syy += (received[j] - mr) * (received[j] - mr);
    }
    st.norm_corr = sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
  });
  return out;
}

}  // namespace attnbench::trace
