#include "topk_nsa.h"

#include <tbb/parallel_for.h>

#include <algorithm>

#include "group_keys.h"
#include "pair_count.h"
#include "sparse_rows.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct NsaOptions {
  int block, stride, select, k, window, gate[3];  // gates: compressed, selected, window
};

Check parse(const VariantOptions& options, NsaOptions& o) {
  int v[8];
  Check c = topk::parse_int_options("nsa", options,
                                    {{"block", 32, 1, 1 << 20}, {"stride", 16, 1, 1 << 20}, {"select", 64, 1, 1 << 20},
                                     {"k", 16, 0, 1 << 20}, {"window", 512, 0, 1 << 24}, {"gate_cmp", 1, 0, 1000},
                                     {"gate_slc", 1, 0, 1000}, {"gate_win", 1, 0, 1000}},
                                    v);
  o = {v[0], v[1], v[2], v[3], v[4], {v[5], v[6], v[7]}};
  if (c.ok() && o.stride > o.block)
    return {AB_UNSUPPORTED, "nsa: stride " + std::to_string(o.stride) + " > block " + std::to_string(o.block) +
                                " would leave keys outside every compressed token"};
  if (c.ok() && o.gate[0] + o.gate[1] + o.gate[2] == 0) return {AB_UNSUPPORTED, "nsa: all three gates are 0"};
  return c;
}

/// Compressed tokens of one KV head: token j = mean of key (value) rows
/// [j*stride, j*stride + block), rows of dpad floats.
struct Compressed {
  int count = 0;
  std::vector<float> k, v;
};

Compressed compress(const KvRowsPadded& kv, int b, int hk, int lk, int d, const NsaOptions& o) {
  Compressed c;
  const int dp = kv.dpad();
  c.count = lk >= o.block ? (lk - o.block) / o.stride + 1 : 0;
  c.k.assign(static_cast<size_t>(c.count) * dp, 0.0f);
  c.v.assign(c.k.size(), 0.0f);
  tbb::parallel_for(0, c.count, [&](int j) {
    float* kc = c.k.data() + static_cast<size_t>(j) * dp;
    float* vc = c.v.data() + static_cast<size_t>(j) * dp;
    for (int t = j * o.stride; t < j * o.stride + o.block; ++t)
      for (int e = 0; e < d; ++e) kc[e] += kv.k(b, hk, t)[e], vc[e] += kv.v(b, hk, t)[e];
    for (int e = 0; e < d; ++e) kc[e] /= static_cast<float>(o.block), vc[e] /= static_cast<float>(o.block);
  });
  return c;
}

/// Per-thread buffers of one position.
struct NsaScratch {
  GroupAttention att;
  std::vector<float> q, probs, importance, out[3];
  std::vector<const float*> krows, vrows;
};

}  // namespace

std::vector<int> nsa_select(const std::vector<float>& importance, int first, int k, int local) {
  const int n = static_cast<int>(importance.size());
  std::vector<int> cand;
  std::vector<float> score;
  for (int j = std::max(0, first); j < n; ++j)
    if (j != 0 && j != local) cand.push_back(j), score.push_back(importance[j]);
  std::vector<int> kept = {0};
  if (local != 0) kept.push_back(local);
  for (int j : topk::select_top_k(score.data(), static_cast<int>(score.size()), k)) kept.push_back(cand[j]);
  std::sort(kept.begin(), kept.end());
  return kept;
}

Check nsa_supports(const ab_attention_args& a, const VariantOptions& options) {
  NsaOptions o;
  Check c = parse(options, o);
  if (c.ok() && !a.causal) return {AB_UNSUPPORTED, "nsa: causal only (compression, selection and window look back)"};
  return c;
}

void nsa_run(const ab_attention_args& a, const VariantOptions& options) {
  NsaOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const KvRowsPadded kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  for (int b = 0; b < a.batch; ++b) {
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (lq <= 0) continue;
    for (int hk = 0; hk < a.heads_kv; ++hk) {
      const Compressed cmp = compress(kv, b, hk, lk, d, o);
      const auto window_of = [&](int i) {
        const KeyRange vis = mask.keys_for(i, lq, lk);
        return KeyRange{std::max(vis.lo, i + lk - lq - o.window + 1), vis.hi};
      };
      tbb::parallel_for(0, (lq + kSparseRows - 1) / kSparseRows, [&](int chunk) {
        const int i_begin = chunk * kSparseRows, i_end = std::min(lq, i_begin + kSparseRows);
        // (c) sliding window first, for 32 positions of each head at once on the row
        // kernel (consecutive windows share their keys), written to O: the combination
        // below reads it back (16-bit storage rounds it once more).
        SparseRows& sr = sparse_rows_scratch();
        for (int g = 0; g < group; ++g) {
          for (int i = i_begin; i < i_end; ++i) {
            const KeyRange w = window_of(i);
            sr.ranges[i - i_begin].assign(w.empty() ? 0 : 1, w);
          }
          attend_row_lists(a, b, hk * group + g, i_begin, 1, i_end - i_begin, sr);
        }
        thread_local NsaScratch s;
        s.q.resize(static_cast<size_t>(group) * d);
        for (auto& x : s.out) x.resize(static_cast<size_t>(group) * d);
        for (int i = i_begin; i < i_end; ++i) {
          const int pos = i + lk - lq;
          const KeyRange vis = mask.keys_for(i, lq, lk);
          for (int g = 0; g < group; ++g)
            load_row_f32(a.dtype, a.q, row_offset(b, hk * group + g, i, a.heads_q, a.len_q, d),
                         s.q.data() + static_cast<size_t>(g) * d, d);
          s.att.set_queries(s.q.data(), group, d, a.scale, a.softcap);
          uint64_t pairs = 0;
          // (a) compressed tokens wholly inside the visible range.
          const int j0 = (vis.lo + o.stride - 1) / o.stride;
          const int j1 = std::min(cmp.count, vis.hi >= o.block ? (vis.hi - o.block) / o.stride + 1 : 0);
          const int nc = std::max(0, j1 - j0);
          s.krows.clear(), s.vrows.clear();
          for (int j = j0; j < j1; ++j)
            s.krows.push_back(cmp.k.data() + static_cast<size_t>(j) * kv.dpad()),
                s.vrows.push_back(cmp.v.data() + static_cast<size_t>(j) * kv.dpad());
          s.probs.resize(static_cast<size_t>(group) * nc);
          s.att.attend(s.krows.data(), s.vrows.data(), nc, s.out[0].data(), s.probs.data());
          pairs += nc;
          // (b) selection blocks by the group's summed compressed probabilities.
          const int nsel = std::max(1, (vis.hi + o.select - 1) / o.select);
          s.importance.assign(nsel, 0.0f);
          for (int j = j0; j < j1; ++j) {
            float p = 0;
            for (int g = 0; g < group; ++g) p += s.probs[static_cast<size_t>(g) * nc + (j - j0)];
            const int s0 = j * o.stride / o.select, s1 = std::min(nsel - 1, (j * o.stride + o.block - 1) / o.select);
            for (int J = s0; J <= s1; ++J) s.importance[J] += p;
          }
          const int local = std::clamp(pos / o.select, 0, nsel - 1);
          s.krows.clear(), s.vrows.clear();
          for (const KeyRange& r : topk::kept_ranges(nsa_select(s.importance, vis.lo / o.select, o.k, local), o.select, vis))
            for (int t = r.lo; t < r.hi; ++t) s.krows.push_back(kv.k(b, hk, t)), s.vrows.push_back(kv.v(b, hk, t));
          const int ns = static_cast<int>(s.krows.size());
          s.att.attend(s.krows.data(), s.vrows.data(), ns, s.out[1].data());
          pairs += ns;
          // (c) the window's output, written above (the row kernel counted its pairs).
          const KeyRange win = window_of(i);
          const int nw = std::max(0, win.hi - win.lo);
          for (int g = 0; g < group; ++g)
            load_row_f32(a.dtype, a.o, row_offset(b, hk * group + g, i, a.heads_q, a.len_q, d),
                         s.out[2].data() + static_cast<size_t>(g) * d, d);
          count_pairs(pairs * group);
          // Gates over the branches that have keys (equal among them if those weigh 0).
          const int has[3] = {nc > 0, ns > 0, nw > 0};
          float w[3], wsum = 0;
          for (int x = 0; x < 3; ++x) wsum += w[x] = has[x] ? static_cast<float>(o.gate[x]) : 0.0f;
          if (!(wsum > 0))
            for (int x = 0; x < 3; ++x) wsum += w[x] = static_cast<float>(has[x]);
          for (int g = 0; g < group; ++g) {
            float* row = s.q.data() + static_cast<size_t>(g) * d;  // queries are no longer needed
            for (int e = 0; e < d; ++e) {
              float y = 0;
              for (int x = 0; x < 3; ++x) y += w[x] * s.out[x][static_cast<size_t>(g) * d + e];
              row[e] = wsum > 0 ? y / wsum : 0.0f;
            }
            store_row(a.dtype, a.o, row_offset(b, hk * group + g, i, a.heads_q, a.len_q, d), row, d);
          }
        }
      });
    }
  }
}

AB_CPU_NS_END
