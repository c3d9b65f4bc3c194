#include "topk_decode.h"

#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxQueries = 16;
constexpr int kPowerIterations = 12;     // subspace iterations of the Loki PCA
constexpr unsigned kLokiSeed = 0x4C4F4B49;  // "LOKI"
constexpr int kPcaKeys = 1024;           // the PCA sees at most this many keys, evenly strided

struct DecodeOptions {
  int k, vote, loki, rank, recycle;
};

Check parse(const VariantOptions& options, DecodeOptions& o) {
  VariantOptions ints = options;
  o.loki = 0;
  if (auto it = ints.find("score"); it != ints.end()) {
    if (it->second == "loki") o.loki = 1;
    else if (it->second != "exact")
      return {AB_UNSUPPORTED, "topk_decode: option score='" + it->second + "' is not one of exact, loki"};
    ints.erase(it);
  }
  int v[4];
  Check c = topk::parse_int_options(
      "topk_decode", ints, {{"k", 256, 1, 1 << 30}, {"vote", 0, 0, 1}, {"rank", 32, 1, 1 << 20}, {"recycle", 0, 0, 15}},
      v);
  o.k = v[0];
  o.vote = v[1];
  o.rank = v[2];
  o.recycle = v[3];
  if (c.ok() && o.loki && o.recycle > 0)
    return {AB_UNSUPPORTED, "topk_decode: score=loki and recycle>0 are separate modes (recycled rows select by exact "
                            "scores of a full attention row)"};
  return c;
}

/// Modified Gram-Schmidt (two passes) of the r columns of V (d x r, column-major).
/// A column that collapses (rank-deficient covariance) is replaced by the first unit
/// vector with a usable residual, so V always ends orthonormal.
void orthonormalize(std::vector<double>& V, int d, int r) {
  for (int c = 0; c < r; ++c) {
    double* x = V.data() + static_cast<size_t>(c) * d;
    for (int attempt = 0; attempt <= d; ++attempt) {
      double before = 0;
      for (int e = 0; e < d; ++e) before += x[e] * x[e];
      for (int pass = 0; pass < 2; ++pass)
        for (int p = 0; p < c; ++p) {
          const double* y = V.data() + static_cast<size_t>(p) * d;
          double s = 0;
          for (int e = 0; e < d; ++e) s += x[e] * y[e];
          for (int e = 0; e < d; ++e) x[e] -= s * y[e];
        }
      double norm = 0;
      for (int e = 0; e < d; ++e) norm += x[e] * x[e];
      if (norm > 1e-20 && norm > 1e-16 * before) {
        const double inv = 1.0 / std::sqrt(norm);
        for (int e = 0; e < d; ++e) x[e] *= inv;
        break;
      }
      std::fill(x, x + d, 0.0);  // collapsed: try unit vector e_attempt
      x[attempt % d] = 1.0;
    }
  }
}

/// Top-r principal directions (r x d, row per direction, fp32) of the keys 0..len of KV
/// head (b, h): centred covariance of at most kPcaKeys of them (key floor(j*len/n) for
/// j < n), then kPowerIterations block power iterations.
std::vector<float> loki_basis(const topk::KvF32& kv, int b, int h, int len, int d, int r) {
  const int n = std::min(len, kPcaKeys);
  const auto key_at = [&](int j) { return static_cast<int>(static_cast<long long>(j) * len / n); };
  std::vector<double> mean(d, 0.0);
  for (int j = 0; j < n; ++j) {
    const float* k = kv.k(b, h, key_at(j));
    for (int e = 0; e < d; ++e) mean[e] += k[e];
  }
  if (n > 0)
    for (double& m : mean) m /= n;
  tbb::enumerable_thread_specific<std::vector<double>> partial([&] { return std::vector<double>(size_t(d) * d, 0.0); });
  tbb::parallel_for(tbb::blocked_range<int>(0, n, 256), [&](const tbb::blocked_range<int>& keys) {
    std::vector<double>& C = partial.local();
    std::vector<double> x(d);
    for (int j = keys.begin(); j < keys.end(); ++j) {
      const float* k = kv.k(b, h, key_at(j));
      for (int e = 0; e < d; ++e) x[e] = k[e] - mean[e];
      for (int i = 0; i < d; ++i) {
        const double xi = x[i];
        double* row = C.data() + static_cast<size_t>(i) * d;
        for (int j = i; j < d; ++j) row[j] += xi * x[j];  // upper triangle
      }
    }
  });
  std::vector<double> C(size_t(d) * d, 0.0);
  for (const auto& p : partial)
    for (size_t i = 0; i < C.size(); ++i) C[i] += p[i];
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < i; ++j) C[static_cast<size_t>(i) * d + j] = C[static_cast<size_t>(j) * d + i];

  std::vector<double> V(static_cast<size_t>(r) * d), W(V.size());
  std::mt19937 rng(kLokiSeed);
  std::normal_distribution<double> normal;
  for (double& x : V) x = normal(rng);
  orthonormalize(V, d, r);
  for (int it = 0; it < kPowerIterations; ++it) {
    for (int c = 0; c < r; ++c)
      for (int i = 0; i < d; ++i) {
        const double* row = C.data() + static_cast<size_t>(i) * d;
        const double* v = V.data() + static_cast<size_t>(c) * d;
        double s = 0;
        for (int e = 0; e < d; ++e) s += row[e] * v[e];
        W[static_cast<size_t>(c) * d + i] = s;
      }
    V.swap(W);
    orthonormalize(V, d, r);
  }
  return std::vector<float>(V.begin(), V.end());
}

}  // namespace

Check topk_decode_supports(const ab_attention_args& a, const VariantOptions& options) {
  DecodeOptions o;
  if (Check c = parse(options, o); !c.ok()) return c;
  if (a.len_q > kMaxQueries)
    return {AB_UNSUPPORTED, "topk_decode handles len_q <= " + std::to_string(kMaxQueries) + " (got " +
                                std::to_string(a.len_q) + "); it is a decode-time selection"};
  return {};
}

void topk_decode_run(const ab_attention_args& a, const VariantOptions& options) {
  DecodeOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, a.softcap};

  // Loki: per (batch, KV head) basis (rank x d) and projected keys [len_k, rank].
  const int rank = std::min(o.rank, d);
  std::vector<std::vector<float>> basis, proj;
  if (o.loki) {
    basis.resize(static_cast<size_t>(a.batch) * a.heads_kv);
    proj.resize(basis.size());
    tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
      const int b = bh / a.heads_kv, hk = bh % a.heads_kv, lk = len_k_of(a, b);
      basis[bh] = loki_basis(kv, b, hk, lk, d, rank);
      proj[bh].resize(static_cast<size_t>(lk) * rank);
      tbb::parallel_for(0, lk, [&](int t) {
        for (int c = 0; c < rank; ++c)
          proj[bh][static_cast<size_t>(t) * rank + c] =
              topk::dot(basis[bh].data() + static_cast<size_t>(c) * d, kv.k(b, hk, t), d);
      });
    });
  }

  // One task per (batch, KV head, segment of recycle+1 query rows): the heads of the
  // group share the keys; the segment's first row selects, the others reuse.
  const int seg_len = o.recycle + 1, segs = (a.len_q + seg_len - 1) / seg_len;
  tbb::parallel_for(0, a.batch * a.heads_kv * segs, [&](int task) {
    const int seg = task % segs, hk = (task / segs) % a.heads_kv, b = task / (segs * a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), i0 = seg * seg_len;
    if (i0 >= lq) return;
    const KeyRange r = mask.keys_for(i0, lq, lk);
    const int n = r.empty() ? 0 : r.hi - r.lo;
    std::vector<float> q(static_cast<size_t>(group) * d), scores(static_cast<size_t>(group) * n), votes, qp(rank);
    std::vector<float> out(d), scratch;
    const float* kp = o.loki ? proj[static_cast<size_t>(b) * a.heads_kv + hk].data() : nullptr;
    const float* basis_bh = o.loki ? basis[static_cast<size_t>(b) * a.heads_kv + hk].data() : nullptr;
    for (int g = 0; g < group; ++g) {
      const int h = hk * group + g;
      const float* qg = q.data() + g * d;
      load_row_f32(a.dtype, a.q, row_offset(b, h, i0, a.heads_q, a.len_q, d), q.data() + g * d, d);
      float* sg = scores.data() + static_cast<size_t>(g) * n;
      if (o.loki) {
        for (int c = 0; c < rank; ++c) qp[c] = topk::dot(basis_bh + static_cast<size_t>(c) * d, qg, d);
        for (int j = 0; j < n; ++j) sg[j] = topk::dot(qp.data(), kp + static_cast<size_t>(r.lo + j) * rank, rank);
      } else {
        for (int j = 0; j < n; ++j) sg[j] = topk::dot(qg, kv.k(b, hk, r.lo + j), d);
      }
    }
    std::vector<std::vector<int>> picked(group);  // the selection of each head
    if (o.vote) {
      votes.assign(n, 0.0f);
      for (int g = 0; g < group; ++g) {  // each head's softmax probabilities, summed
        const float* s = scores.data() + static_cast<size_t>(g) * n;
        float m = -INFINITY;
        for (int j = 0; j < n; ++j) m = std::max(m, s[j] * a.scale);
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += std::exp(s[j] * a.scale - m);
        for (int j = 0; j < n; ++j) votes[j] += static_cast<float>(std::exp(s[j] * a.scale - m) / sum);
      }
      std::vector<int> keys = topk::select_top_k(votes.data(), n, o.k);
      for (int& t : keys) t += r.lo;
      for (auto& p : picked) p = keys;
    } else {
      for (int g = 0; g < group; ++g) {
        picked[g] = topk::select_top_k(scores.data() + static_cast<size_t>(g) * n, n, o.k);
        for (int& t : picked[g]) t += r.lo;
      }
    }
    // The segment's first row: top-k attention, or full attention when recycling.
    for (int g = 0; g < group; ++g) {
      const int h = hk * group + g;
      if (o.recycle > 0)
        topk::attend_ranges(q.data() + g * d, kv, b, hk, d, logits, {r}, scratch, out.data());
      else
        topk::attend_indices(q.data() + g * d, kv, b, hk, d, logits, picked[g], scratch, out.data());
      store_row(a.dtype, a.o, row_offset(b, h, i0, a.heads_q, a.len_q, d), out.data(), d);
    }
    // Recycled rows: the first row's selection within their range, plus newer keys.
    std::vector<int> keys;
    for (int i = i0 + 1; i < std::min(lq, i0 + seg_len); ++i) {
      const KeyRange ri = mask.keys_for(i, lq, lk);
      for (int g = 0; g < group; ++g) {
        const int h = hk * group + g;
        keys.clear();
        for (int t : picked[g])
          if (t >= ri.lo && t < ri.hi) keys.push_back(t);
        for (int t = std::max(ri.lo, r.hi); t < ri.hi; ++t) keys.push_back(t);
        load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data() + g * d, d);
        topk::attend_indices(q.data() + g * d, kv, b, hk, d, logits, keys, scratch, out.data());
        store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, d), out.data(), d);
      }
    }
  });
}

AB_CPU_NS_END
