// retrieval_offload (Liu et al. 2024, RetrievalAttention): the full cache stays on the
// host in an approximate nearest-neighbour index over the keys; the device keeps only the
// `sink` first and `recent` last tokens plus the keys the index returns for the queries.
//
// Index: query-aware IVF. Per KV head, spherical k-means (`iters` Lloyd iterations,
// fixed `seed`) over the group's prompt queries gives `lists` centroids; every indexable
// key (neither sink nor recent) joins the list of the centroid with the largest inner
// product with it (see the comment in compress()). A query probes the `nprobe` lists
// whose centroids have the largest inner product with it and scans every key in them.
// Too few lists merge the question queries into haystack clusters (on the recall needle
// cases lists=16..32 miss the needle, lists=64,nprobe=4 finds it at ~3% scanned).
//
// compress() runs before the decode question is known, so the queries retrieved for are
// the observation window: the last `window` prompt queries of every query head of the
// GQA group (the question sits at the end of the prompt). Each query scores the keys it
// scanned by softmax over those keys (causal: only keys <= its position); scores are
// summed over queries (soft vote) and the top budget - sink - recent keys are kept (keys
// never scanned score 0, ties to the lower index, so the budget is always met exactly).
// With nprobe = lists this is the exact observation-window top-k.
//
// Budget: tokens kept per head (fp, elem_bytes); the host copy and the index are
// offloaded and not counted. Metric: CompressedCache::extra_metrics["scanned_fraction"] =
// keys scanned / (queries x indexable keys), averaged over heads (RetrievalAttention
// reports 1-3%); "lists_probed_fraction" = nprobe / lists.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "kv_internal.h"

namespace attnbench::kv::detail {
namespace {

class RetrievalOffload final : public EvictionMethod {
 public:
  using EvictionMethod::EvictionMethod;
  bool needs_context_queries() const override { return true; }
  int32_t sink() const { return static_cast<int32_t>(p_.geti("sink", 4)); }
  int32_t recent() const { return static_cast<int32_t>(p_.geti("recent", 32)); }
  int32_t window() const { return static_cast<int32_t>(p_.geti("window", 32)); }
  int32_t lists() const { return static_cast<int32_t>(p_.geti("lists", 64)); }
  int32_t nprobe() const { return static_cast<int32_t>(p_.geti("nprobe", 4)); }
  int32_t iters() const { return static_cast<int32_t>(p_.geti("iters", 8)); }
  int64_t seed() const { return p_.geti("seed", 1234); }
  std::string config() const override {
    return canonical("retrieval_offload", {{"budget", p_.geti("budget", 256)}, {"sink", sink()}, {"recent", recent()},
                                           {"window", window()}, {"lists", lists()}, {"nprobe", nprobe()},
                                           {"iters", iters()}, {"seed", static_cast<double>(seed())}, {"elem_bytes", elem_bytes()}});
  }

  CompressedCache compress(const KvInput& in) const override {
    validate(in, true);
    if (lists() < 1 || nprobe() < 1 || window() < 1 || iters() < 0 || sink() < 0 || recent() < 0)
      throw std::invalid_argument("retrieval_offload: lists, nprobe, window >= 1; sink, recent, iters >= 0");
    const int32_t Lk = in.len_k, d = in.head_dim, g = in.heads_q / in.heads_kv, b = budget_tokens(p_, Lk);
    if (b >= Lk) {  // everything fits: nothing to retrieve
      std::vector<int32_t> all(Lk);
      std::iota(all.begin(), all.end(), 0);
      auto c = gather(in, std::vector<std::vector<int32_t>>(in.heads_kv, all), config(), elem_bytes());
      c.extra_metrics["scanned_fraction"] = 1.0;
      c.extra_metrics["lists_probed_fraction"] = 1.0;
      return c;
    }
    const int32_t s0 = std::min(sink(), Lk), r0 = std::min(recent(), Lk - s0);
    if (s0 + r0 >= b) throw std::invalid_argument("retrieval_offload: sink + recent must be smaller than the budget");
    std::vector<int32_t> forced, indexable;
    for (int32_t t = 0; t < Lk; ++t) (t < s0 || t >= Lk - r0 ? forced : indexable).push_back(t);
    const int32_t n = static_cast<int32_t>(indexable.size());
    const int32_t nl = std::min(lists(), n), np = std::min(nprobe(), nl);
    const int32_t w = std::min(window(), Lk);
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));

    std::vector<std::vector<int32_t>> keep(in.heads_kv);
    std::vector<double> scanned_frac(in.heads_kv, 0.0);
    tbb::parallel_for(0, in.heads_kv, [&](int j) {
      const float* K = in.k + static_cast<size_t>(j) * Lk * d;
      // Query-aware IVF (RetrievalAttention's point: decode queries are out of
      // distribution for the keys, so index keys by the queries that attend them): the
      // lists' centroids come from spherical k-means over the group's prompt queries
      // (centred, normalised); each key joins the list whose centroid has the largest
      // inner product with it (the query cluster that would attend it most). Keys are
      // centred by their mean (q.(k - mean) ranks keys as q.k does).
      std::vector<double> kmean(d, 0.0);
      for (int32_t i = 0; i < n; ++i)
        for (int e = 0; e < d; ++e) kmean[e] += K[static_cast<size_t>(indexable[i]) * d + e] / n;
      const int32_t nqr = g * Lk;
      std::vector<float> unit(static_cast<size_t>(nqr) * d);
      std::vector<double> qmean(d, 0.0);
      for (int32_t r = 0; r < nqr; ++r)
        for (int e = 0; e < d; ++e) qmean[e] += in.q_context[(static_cast<size_t>(j) * g * Lk + r) * d + e] / nqr;
      for (int32_t r = 0; r < nqr; ++r) {
        const float* qr = in.q_context + (static_cast<size_t>(j) * g * Lk + r) * d;
        double nrm = 0;
        for (int e = 0; e < d; ++e) nrm += (qr[e] - qmean[e]) * (qr[e] - qmean[e]);
        nrm = nrm > 0 ? 1.0 / std::sqrt(nrm) : 0.0;
        for (int e = 0; e < d; ++e) unit[static_cast<size_t>(r) * d + e] = static_cast<float>((qr[e] - qmean[e]) * nrm);
      }
      auto qv = [&](int32_t r) { return unit.data() + static_cast<size_t>(r) * d; };
      std::vector<double> cent(static_cast<size_t>(nl) * d);
      std::vector<int32_t> perm(nqr);
      std::iota(perm.begin(), perm.end(), 0);
      std::mt19937_64 rng(static_cast<uint64_t>(seed()) * 1000003ull + j);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (int c = 0; c < nl; ++c)
        for (int e = 0; e < d; ++e) cent[static_cast<size_t>(c) * d + e] = qv(perm[c])[e];
      auto best_list = [&](const float* x, const double* shift) {
        int best = 0;
        double bs = -INFINITY;
        for (int c = 0; c < nl; ++c) {
          double dot = 0;
          for (int e = 0; e < d; ++e) dot += (x[e] - (shift ? shift[e] : 0.0)) * cent[static_cast<size_t>(c) * d + e];
          if (dot > bs) bs = dot, best = c;
        }
        return best;
      };
      for (int it = 0; it < iters(); ++it) {
        std::vector<double> sum(static_cast<size_t>(nl) * d, 0.0);
        std::vector<int32_t> cnt(nl, 0);
        for (int32_t r = 0; r < nqr; ++r) {
          const int a = best_list(qv(r), nullptr);
          ++cnt[a];
          for (int e = 0; e < d; ++e) sum[static_cast<size_t>(a) * d + e] += qv(r)[e];
        }
        for (int c = 0; c < nl; ++c) {
          if (!cnt[c]) continue;  // empty lists keep their centroid
          double nrm = 0;
          for (int e = 0; e < d; ++e) nrm += sum[static_cast<size_t>(c) * d + e] * sum[static_cast<size_t>(c) * d + e];
          if (nrm > 0)
            for (int e = 0; e < d; ++e) cent[static_cast<size_t>(c) * d + e] = sum[static_cast<size_t>(c) * d + e] / std::sqrt(nrm);
        }
      }
      std::vector<int32_t> assign(n);
      for (int32_t i = 0; i < n; ++i) assign[i] = best_list(K + static_cast<size_t>(indexable[i]) * d, kmean.data());
      std::vector<std::vector<int32_t>> inv(nl);
      for (int32_t i = 0; i < n; ++i) inv[assign[i]].push_back(i);

      // Probe for every observation-window query of the group; soft-vote the scanned keys.
      std::vector<double> score(Lk, -1.0);  // forced slots are not ranked
      for (int32_t i = 0; i < n; ++i) score[indexable[i]] = 0.0;
      uint64_t scanned = 0, possible = 0;
      std::vector<double> cs(nl), logit;
      std::vector<int32_t> order(nl), cand;
      for (int32_t h = j * g; h < (j + 1) * g; ++h)
        for (int32_t t = Lk - w; t < Lk; ++t) {
          const float* q = in.q_context + (static_cast<size_t>(h) * Lk + t) * d;
          for (int c = 0; c < nl; ++c) {
            double dot = 0;
            for (int e = 0; e < d; ++e) dot += q[e] * cent[static_cast<size_t>(c) * d + e];
            cs[c] = dot;
          }
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + np, order.end(),
                            [&](int a, int bb) { return cs[a] > cs[bb] || (cs[a] == cs[bb] && a < bb); });
          cand.clear();
          for (int p = 0; p < np; ++p)
            for (int32_t i : inv[order[p]]) {
              ++scanned;
              if (indexable[i] <= t) cand.push_back(indexable[i]);  // causal
            }
          possible += n;
          if (cand.empty()) continue;
          logit.resize(cand.size());
          double m = -INFINITY, z = 0;
          for (size_t c = 0; c < cand.size(); ++c) {
            const float* kr = K + static_cast<size_t>(cand[c]) * d;
            float dot = 0.f;
            for (int e = 0; e < d; ++e) dot += q[e] * kr[e];
            m = std::max(m, logit[c] = dot * scale);
          }
          for (auto& x : logit) z += (x = std::exp(x - m));
          for (size_t c = 0; c < cand.size(); ++c) score[cand[c]] += logit[c] / z;
        }
      scanned_frac[j] = possible ? static_cast<double>(scanned) / possible : 0.0;
      keep[j] = top_with(score, b - static_cast<int32_t>(forced.size()), forced);
    });
    auto c = gather(in, keep, config(), elem_bytes());
    c.extra_metrics["scanned_fraction"] = std::accumulate(scanned_frac.begin(), scanned_frac.end(), 0.0) / in.heads_kv;
    c.extra_metrics["lists_probed_fraction"] = static_cast<double>(np) / nl;
    return c;
  }
};

}  // namespace
std::unique_ptr<KvMethod> make_retrieval_offload(const KvParams& p) { return std::make_unique<RetrievalOffload>(p); }
}  // namespace attnbench::kv::detail
