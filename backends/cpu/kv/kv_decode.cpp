#include "kv_decode.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace attnbench::kv {
namespace {

template <typename T>
void decode_row(const HeadCache& h, const float* q, int d, double* out, double* wsum) {
  const size_t n = h.kept.size();
  const T scale = static_cast<T>(1.0 / std::sqrt(static_cast<double>(d)));
  std::vector<T> s(n);
  T m = -INFINITY;
  for (size_t i = 0; i < n; ++i) {
    T dot = 0;
    for (int c = 0; c < d; ++c) dot += static_cast<T>(q[c]) * static_cast<T>(h.k[i * d + c]);
    m = std::max(m, s[i] = dot * scale);
  }
  T z = 0;
  for (size_t i = 0; i < n; ++i) z += (s[i] = std::exp(s[i] - m));
  std::vector<T> acc(d, 0);
  T ws = 0;
  for (size_t i = 0; i < n; ++i) {
    const T p = s[i] / z;
    ws += p;
    for (int c = 0; c < d; ++c) acc[c] += p * static_cast<T>(h.v[i * d + c]);
  }
  for (int c = 0; c < d; ++c) out[c] = static_cast<double>(acc[c]);
  *wsum = static_cast<double>(ws);
}

}  // namespace

DecodeResult decode_compressed(const CompressedCache& c, const float* q, int32_t heads_q, int32_t n_q, bool fp64) {
  DecodeResult r;
  const int d = c.head_dim;
  if (c.heads_kv <= 0 || heads_q % c.heads_kv) { r.error = "heads_q must be a multiple of heads_kv"; return r; }
  const int g = heads_q / c.heads_kv;
  r.o.assign(static_cast<size_t>(heads_q) * n_q * d, 0.0);
  r.weight_sum.assign(static_cast<size_t>(heads_q) * n_q, 0.0);
  tbb::parallel_for(0, heads_q * n_q, [&](int row) {
    const HeadCache& h = c.heads[row / n_q / g];
    if (h.kept.empty()) return;  // left zero: caught below
    const float* qr = q + static_cast<size_t>(row) * d;
    if (fp64) decode_row<double>(h, qr, d, &r.o[static_cast<size_t>(row) * d], &r.weight_sum[row]);
    else decode_row<float>(h, qr, d, &r.o[static_cast<size_t>(row) * d], &r.weight_sum[row]);
  });
  const double tol = fp64 ? 1e-9 : 1e-4;
  for (int row = 0; row < heads_q * n_q; ++row) {
    double norm = 0;
    for (int c2 = 0; c2 < d; ++c2) {
      const double x = r.o[static_cast<size_t>(row) * d + c2];
      if (!std::isfinite(x)) { r.error = "NaN/Inf in decode output row " + std::to_string(row); return r; }
      norm += x * x;
    }
    if (norm == 0) { r.error = "all-zero decode output row " + std::to_string(row); return r; }
    if (!(std::fabs(r.weight_sum[row] - 1.0) <= tol)) {
      r.error = "attention weights of row " + std::to_string(row) + " sum to " + std::to_string(r.weight_sum[row]);
      return r;
    }
  }
  r.ok = true;
  return r;
}

KvInput kv_input(const recall::RecallCase& rc, int32_t layer, int32_t num_layers) {
  KvInput in;
  in.heads_q = rc.heads_q, in.heads_kv = rc.heads_kv, in.len_k = rc.len_k, in.head_dim = rc.head_dim;
  in.k = rc.k.data(), in.v = rc.v.data(), in.q_context = rc.q_context.data();
  in.layer = layer, in.num_layers = num_layers;
  return in;
}

RecallMetrics evaluate_recall(const recall::RecallCase& rc, const CompressedCache& c) {
  RecallMetrics m;
  m.kv_bytes = c.bytes_kept, m.full_bytes = c.bytes_full, m.compression_ratio = c.compression_ratio();
  const int Hq = rc.heads_q, nq = rc.n_questions, d = rc.head_dim, Lk = rc.len_k, g = Hq / rc.heads_kv;
  const DecodeResult r = decode_compressed(c, rc.q_question.data(), Hq, nq, true);
  if (!r.ok) { m.error = r.error; return m; }
  // The full-cache reference: exact probabilities (for mass kept) and O_full.
  double err2 = 0, ref2 = 0, mass = 0;
  int correct = 0;
  std::vector<double> p(Lk), ofull(d);
  for (int h = 0; h < Hq; ++h)
    for (int i = 0; i < nq; ++i) {
      const int row = h * nq + i;
      const float* q = &rc.q_question[static_cast<size_t>(row) * d];
      const float* K = &rc.k[static_cast<size_t>(h / g) * Lk * d];
      const float* V = &rc.v[static_cast<size_t>(h / g) * Lk * d];
      double mx = -INFINITY, z = 0;
      for (int t = 0; t < Lk; ++t) {
        double s = 0;
        for (int c2 = 0; c2 < d; ++c2) s += static_cast<double>(q[c2]) * K[static_cast<size_t>(t) * d + c2];
        mx = std::max(mx, p[t] = s / std::sqrt(static_cast<double>(d)));
      }
      for (int t = 0; t < Lk; ++t) z += (p[t] = std::exp(p[t] - mx));
      std::fill(ofull.begin(), ofull.end(), 0.0);
      for (int t = 0; t < Lk; ++t)
        for (int c2 = 0; c2 < d; ++c2) ofull[c2] += p[t] / z * V[static_cast<size_t>(t) * d + c2];
      for (int32_t t : c.heads[h / g].kept)
        if (t >= 0) mass += p[t] / z;
      const double* o = &r.o[static_cast<size_t>(row) * d];
      for (int c2 = 0; c2 < d; ++c2) err2 += (o[c2] - ofull[c2]) * (o[c2] - ofull[c2]), ref2 += ofull[c2] * ofull[c2];
      correct += recall::decode_correct(rc, i, o) ? 1 : 0;
    }
  const double rows = static_cast<double>(Hq) * nq;
  m.accuracy = correct / rows;
  m.mass_kept = mass / rows;
  m.output_error = std::sqrt(err2 / std::max(ref2, 1e-300));
  m.ok = true;
  return m;
}

RecallMetrics run_recall_case(const recall::RecallCase& rc, const std::string& config) {
  const auto method = make_kv_method(config);
  const KvInput in = kv_input(rc);
  const auto t0 = std::chrono::steady_clock::now();
  const CompressedCache c = method->compress(in);
  const auto t1 = std::chrono::steady_clock::now();
  require_budget(*method, in, c);
  RecallMetrics m = evaluate_recall(rc, c);
  const auto t2 = std::chrono::steady_clock::now();
  m.compress_seconds = std::chrono::duration<double>(t1 - t0).count();
  m.decode_seconds = std::chrono::duration<double>(t2 - t1).count();
  return m;
}

}  // namespace attnbench::kv
