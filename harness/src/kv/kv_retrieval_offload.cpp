// retrieval_offload (Liu et al. 2024, RetrievalAttention): the full cache stays on the
// host in an approximate nearest-neighbour index over the keys; the device keeps only the
// `sink` first and `recent` last tokens plus the keys the index returns for the queries.
//
// Index: query-aware IVF. Per KV head, spherical k-means (`iters` Lloyd iterations,
// fixed `seed`) over the group's prompt queries gives `lists` centroids; every indexable
// key (neither sink nor recent) joins the list of the centroid with the largest inner
// product with it (keys centred by their mean: q.(k - mean) ranks keys as q.k does).
// A query probes the `nprobe` lists whose centroids have the largest inner product with
// it and scans every key in them. Too few lists merge the question queries into haystack
// clusters (on the recall needle cases lists=16..32 miss the needle, lists=64,nprobe=4
// finds it at ~3% scanned).
//
// compress() runs before the decode question is known, so the queries retrieved for are
// the observation window: the last `window` prompt queries of every query head of the
// GQA group (the question sits at the end of the prompt). Each query scores the keys it
// scanned by softmax over those keys (causal: only keys <= its position); scores are
// summed over queries (soft vote) and the top budget - sink - recent keys are kept (keys
// never scanned score 0, ties to the lower index, so the budget is always met exactly).
// With nprobe = lists this is the exact observation-window top-k.
//
// Primitives: every inner product (k-means assignments, key assignments, centroid
// probes, query-key logits) is one batched `dot` over all KV heads; the key mean is the
// mean/covariance statistic over the indexable key rows; the final selection is top-k.
// The host books the index (centroid updates of unit vectors, list membership, per-query
// candidate lists and the soft vote over each query's few candidates).
//
// Budget: tokens kept per head (fp, elem_bytes); the host copy and the index are
// offloaded and not counted. Metrics: "scanned_fraction" = keys scanned / (queries x
// indexable keys), averaged over heads (RetrievalAttention reports 1-3%);
// "lists_probed_fraction" = nprobe / lists.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class RetrievalOffload final : public EvictionPolicy {
 public:
  using EvictionPolicy::EvictionPolicy;
  bool needs_queries() const override { return true; }
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  int32_t recent() const { return static_cast<int32_t>(p_.geti("recent", 32)); }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 32)); }
  int32_t lists() const { return static_cast<int32_t>(p_.geti("lists", 64)); }
  int32_t nprobe() const { return static_cast<int32_t>(p_.geti("nprobe", 4)); }
  int32_t iters() const { return static_cast<int32_t>(p_.geti("iters", 8)); }
  int64_t seed() const { return p_.geti("seed", 1234); }
  std::string config() const override {
    return canonical_config("retrieval_offload", {{"budget", p_.geti("budget", 256)}, {"sink", sink()}, {"recent", recent()},
                                                  {"window", window()}, {"lists", lists()}, {"nprobe", nprobe()},
                                                  {"iters", iters()}, {"seed", static_cast<double>(seed())}, {"elem_bytes", elem_bytes()}});
  }

  void compress(const ab_kv_env& env, const ab_kv_layer& in, int32_t, ab_kv_plan& plan) const override {
    validate_layer(in, true);
    if (lists() < 1 || nprobe() < 1 || window() < 1 || iters() < 0 || sink() < 0 || recent() < 0)
      throw std::invalid_argument("retrieval_offload: lists, nprobe, window >= 1; sink, recent, iters >= 0");
    const int32_t Lk = in.len_k, b = budget_tokens(p_, Lk);
    if (b >= Lk) {  // everything fits: nothing to retrieve
      keep_tokens(plan, in, std::vector<std::vector<int32_t>>(in.heads_kv, all_tokens(Lk)), elem_bytes());
      add_metric(plan, "scanned_fraction", 1.0);
      add_metric(plan, "lists_probed_fraction", 1.0);
      return;
    }
    const int32_t s0 = std::min(sink(), Lk), r0 = std::min(recent(), Lk - s0);
    if (s0 + r0 >= b) throw std::invalid_argument("retrieval_offload: sink + recent must be smaller than the budget");
    KvPrimitives prims(env);
    Index ix(prims, in, s0, Lk - s0 - r0, std::min(lists(), Lk - s0 - r0), seed());
    ix.cluster_queries(iters());
    ix.assign_keys();
    const auto [score, scanned] = ix.probe(std::min(window(), Lk), std::min(nprobe(), ix.nl));
    // Top budget over the votes; sinks and the recent window are forced.
    KvBuffer sb = prims.upload(score);
    keep_tokens(plan, in, prims.topk_rows(sb.get(), in.heads_kv, Lk, b, s0, r0), elem_bytes());
    add_metric(plan, "scanned_fraction", scanned);
    add_metric(plan, "lists_probed_fraction", static_cast<double>(std::min(nprobe(), ix.nl)) / ix.nl);
  }

 private:
  /// The IVF index of every KV head of one layer.
  struct Index {
    KvPrimitives& prims;
    const ab_kv_layer& in;
    int32_t s0, n, nl, hkv, g, Lk, d;
    std::vector<float> q;      // Qctx on the host [heads_q, Lk, d] (for the index's bookkeeping)
    std::vector<float> unit;   // centred, normalised group queries [hkv, g*Lk, d]
    std::vector<float> cent;   // centroids [hkv, nl, d]
    std::vector<std::vector<std::vector<int32_t>>> inv;  // [hkv][list] -> key positions
    KvBuffer unit_dev;

    Index(KvPrimitives& p, const ab_kv_layer& layer, int32_t sink, int32_t indexable, int32_t n_lists, int64_t seed)
        : prims(p), in(layer), s0(sink), n(indexable), nl(n_lists), hkv(layer.heads_kv),
          g(layer.heads_q / layer.heads_kv), Lk(layer.len_k), d(layer.head_dim) {
      q = prims.download<float>(in.q_context, static_cast<size_t>(in.heads_q) * Lk * d);
      const int32_t nqr = g * Lk;
      unit.resize(static_cast<size_t>(hkv) * nqr * d);
      cent.resize(static_cast<size_t>(hkv) * nl * d);
      for (int32_t j = 0; j < hkv; ++j) {
        const float* qj = q.data() + static_cast<size_t>(j) * nqr * d;  // the group's rows are contiguous
        float* uj = unit.data() + static_cast<size_t>(j) * nqr * d;
        std::vector<double> qmean(d, 0.0);
        for (int32_t r = 0; r < nqr; ++r)
          for (int e = 0; e < d; ++e) qmean[e] += qj[static_cast<size_t>(r) * d + e] / nqr;
        for (int32_t r = 0; r < nqr; ++r) {
          const float* qr = qj + static_cast<size_t>(r) * d;
          double nrm = 0;
          for (int e = 0; e < d; ++e) nrm += (qr[e] - qmean[e]) * (qr[e] - qmean[e]);
          nrm = nrm > 0 ? 1.0 / std::sqrt(nrm) : 0.0;
          for (int e = 0; e < d; ++e) uj[static_cast<size_t>(r) * d + e] = static_cast<float>((qr[e] - qmean[e]) * nrm);
        }
        std::vector<int32_t> perm(nqr);
        std::iota(perm.begin(), perm.end(), 0);
        std::mt19937_64 rng(static_cast<uint64_t>(seed) * 1000003ull + j);
        std::shuffle(perm.begin(), perm.end(), rng);
        for (int c = 0; c < nl; ++c)
          std::copy_n(uj + static_cast<size_t>(perm[c]) * d, d, cent.begin() + (static_cast<size_t>(j) * nl + c) * d);
      }
      unit_dev = prims.upload(unit);
    }

    /// out[j][i][c] = a[j][i] . cent[j][c] for device rows a [hkv, m, d].
    std::vector<float> dot_centroids(ab_buffer a, int32_t m) {
      KvBuffer cb = prims.upload(cent);
      KvBuffer out = prims.alloc(static_cast<size_t>(hkv) * m * nl * sizeof(float));
      ab_kv_dot_args args{};
      args.batch = hkv, args.m = m, args.n = nl, args.dim = d;
      args.a = a, args.b = cb.get(), args.out = out.get();
      prims.dot(args);
      return prims.download<float>(out.get(), static_cast<size_t>(hkv) * m * nl);
    }

    /// Index of the largest of x[0..nl) minus shift (first on ties).
    int best(const float* x, const std::vector<double>* shift) const {
      int bi = 0;
      double bs = -INFINITY;
      for (int c = 0; c < nl; ++c) {
        const double v = x[c] - (shift ? (*shift)[c] : 0.0);
        if (v > bs) bs = v, bi = c;
      }
      return bi;
    }

    /// Spherical k-means over the unit queries (assignments by dot, centroid updates here).
    void cluster_queries(int iters) {
      const int32_t nqr = g * Lk;
      for (int it = 0; it < iters; ++it) {
        const std::vector<float> sim = dot_centroids(unit_dev.get(), nqr);
        for (int32_t j = 0; j < hkv; ++j) {
          std::vector<double> sum(static_cast<size_t>(nl) * d, 0.0);
          std::vector<int32_t> cnt(nl, 0);
          for (int32_t r = 0; r < nqr; ++r) {
            const int a = best(&sim[(static_cast<size_t>(j) * nqr + r) * nl], nullptr);
            ++cnt[a];
            const float* u = &unit[(static_cast<size_t>(j) * nqr + r) * d];
            for (int e = 0; e < d; ++e) sum[static_cast<size_t>(a) * d + e] += u[e];
          }
          for (int c = 0; c < nl; ++c) {
            if (!cnt[c]) continue;  // empty lists keep their centroid
            double nrm = 0;
            for (int e = 0; e < d; ++e) nrm += sum[static_cast<size_t>(c) * d + e] * sum[static_cast<size_t>(c) * d + e];
            if (nrm > 0)
              for (int e = 0; e < d; ++e)
                cent[(static_cast<size_t>(j) * nl + c) * d + e] = static_cast<float>(sum[static_cast<size_t>(c) * d + e] / std::sqrt(nrm));
          }
        }
      }
    }

    /// Every indexable key joins the list whose centroid has the largest product with (k - key mean).
    void assign_keys() {
      // Mean of the indexable keys per head: the mean/covariance statistic over those K rows.
      KvBuffer mom = prims.alloc(static_cast<size_t>(hkv) * (d + static_cast<size_t>(d) * d) * sizeof(float));
      ab_kv_stat_args a{};
      a.heads_q = hkv, a.heads_kv = hkv, a.len_k = Lk, a.head_dim = d;
      a.stat = AB_KV_QUERY_MEAN_COV, a.q = in.k, a.q_rows = Lk, a.row0 = s0, a.n_obs = n, a.out = mom.get();
      prims.statistics(a);
      const std::vector<float> m = prims.download<float>(mom.get(), static_cast<size_t>(hkv) * (d + static_cast<size_t>(d) * d));
      const std::vector<float> sim = dot_centroids(in.k, Lk);
      inv.assign(hkv, std::vector<std::vector<int32_t>>(nl));
      for (int32_t j = 0; j < hkv; ++j) {
        const float* mean = &m[static_cast<size_t>(j) * (d + static_cast<size_t>(d) * d)];
        std::vector<double> shift(nl, 0.0);  // mean . centroid, so (k - mean) . c = k . c - shift
        for (int c = 0; c < nl; ++c)
          for (int e = 0; e < d; ++e) shift[c] += static_cast<double>(mean[e]) * cent[(static_cast<size_t>(j) * nl + c) * d + e];
        for (int32_t t = s0; t < s0 + n; ++t) inv[j][best(&sim[(static_cast<size_t>(j) * Lk + t) * nl], &shift)].push_back(t);
      }
    }

    /// Soft votes of the observation window over the keys it scans; scores [hkv, Lk]
    /// (-1 for forced slots, which are not ranked) and the mean scanned fraction.
    std::pair<std::vector<float>, double> probe(int32_t w, int32_t np) {
      const int32_t rows = g * w;  // window rows of every query head of the group
      std::vector<float> wq(static_cast<size_t>(hkv) * rows * d);
      for (int32_t h = 0; h < in.heads_q; ++h)
        for (int32_t t = 0; t < w; ++t)
          std::copy_n(&q[(static_cast<size_t>(h) * Lk + Lk - w + t) * d], d, &wq[(static_cast<size_t>(h) * w + t) * d]);
      KvBuffer wq_dev = prims.upload(wq);
      const std::vector<float> cs = dot_centroids(wq_dev.get(), rows);
      KvBuffer logit_dev = prims.alloc(static_cast<size_t>(hkv) * rows * Lk * sizeof(float));
      ab_kv_dot_args a{};
      a.batch = hkv, a.m = rows, a.n = Lk, a.dim = d, a.a = wq_dev.get(), a.b = in.k, a.out = logit_dev.get();
      prims.dot(a);
      const std::vector<float> logit = prims.download<float>(logit_dev.get(), static_cast<size_t>(hkv) * rows * Lk);
      const double scale = 1.0 / std::sqrt(static_cast<double>(d));
      std::vector<float> score(static_cast<size_t>(hkv) * Lk, -1.0f);
      double frac_sum = 0;
      std::vector<int32_t> order(nl), cand;
      std::vector<double> p;
      for (int32_t j = 0; j < hkv; ++j) {
        std::vector<double> vote(Lk, 0.0);
        uint64_t scanned = 0, possible = 0;
        for (int32_t r = 0; r < rows; ++r) {
          const int32_t t = Lk - w + r % w;  // the query's position
          const float* c = &cs[(static_cast<size_t>(j) * rows + r) * nl];
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + np, order.end(),
                            [&](int x, int y) { return c[x] > c[y] || (c[x] == c[y] && x < y); });
          cand.clear();
          for (int k = 0; k < np; ++k)
            for (int32_t key : inv[j][order[k]]) {
              ++scanned;
              if (key <= t) cand.push_back(key);  // causal
            }
          possible += n;
          if (cand.empty()) continue;
          const float* lr = &logit[(static_cast<size_t>(j) * rows + r) * Lk];
          p.resize(cand.size());
          double mx = -INFINITY, z = 0;
          for (size_t i = 0; i < cand.size(); ++i) mx = std::max(mx, p[i] = lr[cand[i]] * scale);
          for (auto& x : p) z += (x = std::exp(x - mx));
          for (size_t i = 0; i < cand.size(); ++i) vote[cand[i]] += p[i] / z;
        }
        for (int32_t t = s0; t < s0 + n; ++t) score[static_cast<size_t>(j) * Lk + t] = static_cast<float>(vote[t]);
        frac_sum += possible ? static_cast<double>(scanned) / possible : 0.0;
      }
      return {score, frac_sum / hkv};
    }
  };
};

}  // namespace
std::unique_ptr<KvPolicy> make_retrieval_offload(const KvParams& p) { return std::make_unique<RetrievalOffload>(p); }
}  // namespace attnbench::kv
