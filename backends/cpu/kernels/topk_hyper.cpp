#include "topk_hyper.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "sparse_rows.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr unsigned kSeed = 0x48595052;  // "HYPR"

struct HyperOptions {
  int bits, block, samples;
};

Check parse(const VariantOptions& options, HyperOptions& o) {
  int v[3];
  Check c = topk::parse_int_options("hyper", options,
                                    {{"bits", 4, 0, 16}, {"block", 64, 1, 1 << 20}, {"samples", 64, 0, 1 << 20}}, v);
  o = {v[0], v[1], v[2]};
  return c;
}

/// Angular hash: bit p set when x . plane_p > 0.
int bucket_of(const float* x, const std::vector<float>& planes, int bits, int d) {
  int code = 0;
  for (int p = 0; p < bits; ++p)
    if (topk::dot(x, planes.data() + static_cast<size_t>(p) * d, d) > 0.0f) code |= 1 << p;
  return code;
}

/// One sorted-order block's candidate keys: its own keys and the sampled off-block keys,
/// with the weight each stands for; packed ascending (duplicate draws merged, weights
/// added) so that a row's visible keys are one range of positions.
struct HyperBlock {
  struct Candidate {
    int key;
    float weight;
  };
  std::vector<Candidate> cand;
  std::vector<int> key_of;
  std::vector<float> log2_weight;
  std::vector<int> rows;  ///< the block's queries
  ScratchF32 k_rows, v_rows;  ///< the candidates' K and V rows (fp32, by position)
  int row_of[kSparseRows];

  void pack() {
    std::sort(cand.begin(), cand.end(), [](const Candidate& x, const Candidate& y) { return x.key < y.key; });
    key_of.clear(), log2_weight.clear();
    std::vector<float>& w = weight_sum;
    w.clear();
    for (const Candidate& c : cand) {
      if (!key_of.empty() && key_of.back() == c.key) w.back() += c.weight;
      else key_of.push_back(c.key), w.push_back(c.weight);
    }
    for (float x : w) log2_weight.push_back(std::log2(x));
  }
  /// Position of the first candidate key >= key.
  int position_of(int key) const {
    return static_cast<int>(std::lower_bound(key_of.begin(), key_of.end(), key) - key_of.begin());
  }

 private:
  std::vector<float> weight_sum;
};

HyperBlock& hyper_block_scratch() {
  thread_local HyperBlock hb;
  return hb;
}

/// Indices 0..n-1 stably sorted by bucket.
std::vector<int> sort_by_bucket(const std::vector<int>& buckets) {
  std::vector<int> order(buckets.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return buckets[x] < buckets[y]; });
  return order;
}

}  // namespace

Check hyper_supports(const ab_attention_args& /*a*/, const VariantOptions& options) {
  HyperOptions o;
  if (Check c = parse(options, o); !c.ok()) return c;
  return {};
}

void hyper_run(const ab_attention_args& a, const VariantOptions& options) {
  HyperOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const bool masked = a.causal || a.window_left >= 0 || a.window_right >= 0;
  std::vector<float> planes(static_cast<size_t>(o.bits) * d);
  std::mt19937 rng(kSeed);
  std::normal_distribution<float> normal;
  for (float& x : planes) x = normal(rng);

  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (lq <= 0) return;
    std::vector<float> q(static_cast<size_t>(lq) * d);
    std::vector<int> qb(lq), kb(lk);
    for (int i = 0; i < lq; ++i) {
      load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), q.data() + static_cast<size_t>(i) * d, d);
      qb[i] = bucket_of(q.data() + static_cast<size_t>(i) * d, planes, o.bits, d);
    }
    for (int t = 0; t < lk; ++t) kb[t] = bucket_of(kv.k(b, hk, t), planes, o.bits, d);
    const std::vector<int> q_order = sort_by_bucket(qb), k_order = sort_by_bucket(kb);
    std::vector<int> k_block(lk);  // sorted-order block of every key
    const int nb = (lq + o.block - 1) / o.block;
    for (int j = 0; j < nb; ++j)
      for (long long p = j * static_cast<long long>(lk) / nb; p < (j + 1) * static_cast<long long>(lk) / nb; ++p)
        k_block[k_order[p]] = j;
    // Off-block columns of the unmasked case, shared by every block: every key when
    // samples >= lk, else uniform draws standing for lk / samples keys each.
    std::vector<int> sampled;
    float sample_weight = 1.0f;
    if (!masked) {
      if (o.samples >= lk) {
        sampled.resize(lk);
        std::iota(sampled.begin(), sampled.end(), 0);
      } else if (o.samples > 0) {
        std::mt19937 srng(kSeed + 7919u * static_cast<unsigned>(bh));
        std::uniform_int_distribution<int> pick(0, lk - 1);
        for (int s = 0; s < o.samples; ++s) sampled.push_back(pick(srng));
        sample_weight = static_cast<float>(lk) / static_cast<float>(o.samples);
      }
    }
    tbb::parallel_for(0, nb, [&](int j) {
      HyperBlock& hb = hyper_block_scratch();
      hb.cand.clear();
      const int k0 = static_cast<int>(static_cast<long long>(j) * lk / nb);
      const int k1 = static_cast<int>(static_cast<long long>(j + 1) * lk / nb);
      for (int p = k0; p < k1; ++p) hb.cand.push_back({k_order[p], 1.0f});
      const int p_begin = j * o.block, p_end = std::min(lq, (j + 1) * o.block);
      if (!masked) {
        for (int t : sampled)
          if (k_block[t] != j) hb.cand.push_back({t, sample_weight});
      } else {
        // Samples are drawn once per block, uniformly over the union of its rows' visible
        // ranges (weight |union| / samples), and each row keeps those it sees: for every
        // row an unbiased estimate of its off-block visible mass, shared by the block so
        // it runs on the tile kernel.
        KeyRange u{INT32_MAX, INT32_MIN};
        for (int p = p_begin; p < p_end; ++p) {
          const KeyRange r = mask.keys_for(q_order[p], lq, lk);
          if (!r.empty()) u.lo = std::min(u.lo, r.lo), u.hi = std::max(u.hi, r.hi);
        }
        const int n = u.lo < u.hi ? u.hi - u.lo : 0;  // 0: no query of the block sees a key
        if (n > 0 && o.samples >= lk) {
          for (int t = u.lo; t < u.hi; ++t)
            if (k_block[t] != j) hb.cand.push_back({t, 1.0f});
        } else if (n > 0 && o.samples > 0) {
          std::mt19937 srng(kSeed + 7919u * static_cast<unsigned>(bh) + 104729u * static_cast<unsigned>(j));
          std::uniform_int_distribution<int> pick(u.lo, u.hi - 1);
          const float w = static_cast<float>(n) / static_cast<float>(o.samples);
          for (int s = 0; s < o.samples; ++s) {
            const int t = pick(srng);
            if (k_block[t] != j) hb.cand.push_back({t, w});
          }
        }
      }
      hb.pack();
      // Candidate K/V rows packed once (fp32), read in place by the block's row tiles.
      const size_t nk_rows = hb.key_of.size();
      float* kp = hb.k_rows.get(nk_rows * d);
      float* vp = hb.v_rows.get(nk_rows * d);
      for (size_t t = 0; t < nk_rows; ++t) {
        std::memcpy(kp + t * d, kv.k(b, hk, hb.key_of[t]), sizeof(float) * d);
        std::memcpy(vp + t * d, kv.v(b, hk, hb.key_of[t]), sizeof(float) * d);
      }
      // The block's queries in original order: under a causal mask a tile of 32 then
      // spans less of the candidate list, and keys past its last query are skipped.
      hb.rows.assign(q_order.begin() + p_begin, q_order.begin() + p_end);
      if (masked) std::sort(hb.rows.begin(), hb.rows.end());
      SparseRows& sr = sparse_rows_scratch();
      const int nk = static_cast<int>(hb.key_of.size());
      for (int p0 = 0; p0 < p_end - p_begin; p0 += kSparseRows) {
        const int rows = std::min(kSparseRows, p_end - p_begin - p0);
        for (int r = 0; r < rows; ++r) {
          const int i = hb.rows[p0 + r];
          hb.row_of[r] = i;
          sr.ranges[r].clear();
          KeyRange pos{0, nk};
          if (masked) {
            const KeyRange vis = mask.keys_for(i, lq, lk);
            if (vis.empty()) continue;
            pos = {hb.position_of(vis.lo), hb.position_of(vis.hi)};
          }
          if (!pos.empty()) sr.ranges[r].push_back(pos);
        }
        attend_row_lists(a, b, h, 0, 1, rows, sr,
                         {.key_of = hb.key_of.data(), .row_of = hb.row_of, .log2_weight = hb.log2_weight.data(),
                          .k_rows = kp, .v_rows = vp});
      }
    });
  });
}

AB_CPU_NS_END
