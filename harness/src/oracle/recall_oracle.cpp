#include "recall_oracle.h"

#include <algorithm>
#include <cmath>

namespace attnbench::kv {

namespace {

/// Softmax over the kept positions of q . K_t / sqrt(d), written into p_read at those
/// positions (0 elsewhere): the attention of a question over a cache it reads.
void read_attention(const float* q, const float* K, int d, const std::vector<int32_t>& kept, std::vector<double>& p_read) {
  std::fill(p_read.begin(), p_read.end(), 0.0);
  double mx = -INFINITY, z = 0;
  for (int32_t t : kept) {
    if (t < 0) continue;
    double s = 0;
    for (int c = 0; c < d; ++c) s += static_cast<double>(q[c]) * K[static_cast<size_t>(t) * d + c];
    mx = std::max(mx, p_read[t] = s / std::sqrt(static_cast<double>(d)));
  }
  for (int32_t t : kept)
    if (t >= 0) z += (p_read[t] = std::exp(p_read[t] - mx));
  for (int32_t t : kept)
    if (t >= 0) p_read[t] /= z;
}

}  // namespace

RecallMetrics score_recall(const recall::RecallCase& rc, const std::vector<std::vector<int32_t>>& kept,
                           const std::vector<float>& o, const recall::RecallCase* read_from) {
  RecallMetrics m;
  const int Hq = rc.heads_q, nq = rc.n_questions, d = rc.head_dim, Lk = rc.len_k, g = Hq / rc.heads_kv;
  if (read_from && (read_from->heads_kv != rc.heads_kv || read_from->len_k != Lk || read_from->head_dim != d)) {
    m.error = "the read cache's shape differs from the layer's";
    return m;
  }
  if (o.size() != static_cast<size_t>(Hq) * nq * d) {
    m.error = "decode output has the wrong size";
    return m;
  }
  for (int row = 0; row < Hq * nq; ++row) {
    double norm = 0;
    for (int c = 0; c < d; ++c) {
      const double x = o[static_cast<size_t>(row) * d + c];
      if (!std::isfinite(x)) { m.error = "NaN/Inf in decode output row " + std::to_string(row); return m; }
      norm += x * x;
    }
    if (norm == 0) { m.error = "all-zero decode output row " + std::to_string(row); return m; }
  }
  // The full-cache reference: exact probabilities (for mass kept) and O_full.
  double err2 = 0, ref2 = 0, mass = 0, overlap = 0;
  int correct = 0, judged = 0;
  const bool scored = !rc.expected.empty() && !rc.codebook.empty();
  const int topk = std::min(kTopkOverlapK, Lk);
  std::vector<double> p(Lk), ofull(d), orow(d), p_read(read_from ? Lk : 0);
  std::vector<int32_t> order(Lk), order_read(read_from ? Lk : 0);
  std::vector<std::vector<char>> is_kept(rc.heads_kv, std::vector<char>(Lk, 0));
  for (int j = 0; j < rc.heads_kv; ++j)
    for (int32_t t : kept[j])
      if (t >= 0) is_kept[j][t] = 1;
  for (int h = 0; h < Hq; ++h)
    for (int i = 0; i < nq; ++i) {
      const int row = h * nq + i;
      const float* q = &rc.q_question[static_cast<size_t>(row) * d];
      const float* K = &rc.k[static_cast<size_t>(h / g) * Lk * d];
      const float* V = &rc.v[static_cast<size_t>(h / g) * Lk * d];
      double mx = -INFINITY, z = 0;
      for (int t = 0; t < Lk; ++t) {
        double s = 0;
        for (int c = 0; c < d; ++c) s += static_cast<double>(q[c]) * K[static_cast<size_t>(t) * d + c];
        mx = std::max(mx, p[t] = s / std::sqrt(static_cast<double>(d)));
      }
      for (int t = 0; t < Lk; ++t) z += (p[t] = std::exp(p[t] - mx));
      std::fill(ofull.begin(), ofull.end(), 0.0);
      for (int t = 0; t < Lk; ++t)
        for (int c = 0; c < d; ++c) ofull[c] += p[t] / z * V[static_cast<size_t>(t) * d + c];
      for (int t = 0; t < Lk; ++t) order[t] = t;
      std::partial_sort(order.begin(), order.begin() + topk, order.end(), [&](int a, int b) { return p[a] > p[b]; });
      int hits = 0;
      if (read_from) {
        read_attention(q, &read_from->k[static_cast<size_t>(h / g) * Lk * d], d, kept[h / g], p_read);
        for (int t = 0; t < Lk; ++t) mass += std::min(p[t] / z, p_read[t]);
        for (int t = 0; t < Lk; ++t) order_read[t] = t;
        std::partial_sort(order_read.begin(), order_read.begin() + topk, order_read.end(),
                          [&](int a, int b) { return p_read[a] > p_read[b]; });
        std::vector<char> in_read(Lk, 0);
        for (int r = 0; r < topk; ++r) in_read[order_read[r]] = 1;
        for (int r = 0; r < topk; ++r) hits += in_read[order[r]];
      } else {
        for (int32_t t : kept[h / g])
          if (t >= 0) mass += p[t] / z;
        for (int r = 0; r < topk; ++r) hits += is_kept[h / g][order[r]];
      }
      overlap += static_cast<double>(hits) / topk;
      for (int c = 0; c < d; ++c) {
        orow[c] = o[static_cast<size_t>(row) * d + c];
        err2 += (orow[c] - ofull[c]) * (orow[c] - ofull[c]), ref2 += ofull[c] * ofull[c];
      }
      if (scored && recall::judged(rc, h)) {
        correct += recall::decode_correct(rc, i, orow.data()) ? 1 : 0;
        ++judged;
      }
    }
  const double rows = static_cast<double>(Hq) * nq;
  m.has_accuracy = scored;
  m.accuracy = scored ? static_cast<double>(correct) / std::max(judged, 1) : 0.0;
  m.topk_overlap = overlap / rows;
  m.mass_kept = mass / rows;
  m.output_error = std::sqrt(err2 / std::max(ref2, 1e-300));
  m.ok = true;
  return m;
}

std::vector<double> reference_decode(const recall::RecallCase& rc, const std::vector<std::vector<int32_t>>& kept,
                                     const std::vector<uint8_t>& mask) {
  const int Hq = rc.heads_q, nq = rc.n_questions, d = rc.head_dim, Lk = rc.len_k, g = Hq / rc.heads_kv;
  std::vector<double> out(static_cast<size_t>(Hq) * nq * d, 0.0);
  for (int j = 0; j < rc.heads_kv; ++j) {
    // The head's slots in fp64 (compensation slot: mean of the dropped tokens).
    const auto& kj = kept[j];
    std::vector<double> K(kj.size() * d), V(kj.size() * d);
    std::vector<char> is_kept(Lk, 0);
    for (int32_t t : kj)
      if (t >= 0) is_kept[t] = 1;
    for (size_t i = 0; i < kj.size(); ++i) {
      if (kj[i] >= 0) {
        for (int c = 0; c < d; ++c) {
          K[i * d + c] = rc.k[(static_cast<size_t>(j) * Lk + kj[i]) * d + c];
          V[i * d + c] = rc.v[(static_cast<size_t>(j) * Lk + kj[i]) * d + c];
        }
        continue;
      }
      int dropped = 0;
      for (int t = 0; t < Lk; ++t) {
        if (is_kept[t]) continue;
        ++dropped;
        for (int c = 0; c < d; ++c) {
          K[i * d + c] += rc.k[(static_cast<size_t>(j) * Lk + t) * d + c];
          V[i * d + c] += rc.v[(static_cast<size_t>(j) * Lk + t) * d + c];
        }
      }
      for (int c = 0; c < d; ++c) K[i * d + c] /= std::max(dropped, 1), V[i * d + c] /= std::max(dropped, 1);
    }
    if (!mask.empty())
      for (size_t i = 0; i < kj.size(); ++i)
        for (int c = 0; c < d; ++c)
          if (!mask[static_cast<size_t>(j) * d + c]) K[i * d + c] = 0;
    std::vector<double> s(kj.size());
    for (int h = j * g; h < (j + 1) * g; ++h)
      for (int r = 0; r < nq; ++r) {
        const float* q = &rc.q_question[(static_cast<size_t>(h) * nq + r) * d];
        double mx = -INFINITY, z = 0;
        for (size_t i = 0; i < kj.size(); ++i) {
          double dot = 0;
          for (int c = 0; c < d; ++c) dot += q[c] * K[i * d + c];
          mx = std::max(mx, s[i] = dot / std::sqrt(static_cast<double>(d)));
        }
        for (auto& x : s) z += (x = std::exp(x - mx));
        double* o = &out[(static_cast<size_t>(h) * nq + r) * d];
        for (size_t i = 0; i < kj.size(); ++i)
          for (int c = 0; c < d; ++c) o[c] += s[i] / z * V[i * d + c];
      }
  }
  return out;
}

}  // namespace attnbench::kv
