#include "sparse_routing.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "flash_microkernel.h"
#include "sparse_rows.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

struct RoutingOptions {
  int clusters, iters;
};

Check parse(const VariantOptions& options, RoutingOptions& o) {
  int v[2];
  Check c = topk::parse_int_options("routing", options, {{"clusters", 0, 0, 1 << 20}, {"iters", 2, 0, 100}}, v);
  o = {v[0], v[1]};
  return c;
}

/// Scales the d floats at x to unit length (a zero row stays zero).
void normalise(float* x, int d) {
  const float n = std::sqrt(topk::dot(x, x, d));
  if (n > 0)
    for (int c = 0; c < d; ++c) x[c] /= n;
}

/// Nearest centroid of n (<= 32) rows of d floats at x (row stride d): the rows' scores
/// against every centroid on the flash score microkernel (rows in the 32 lanes), then
/// the argmax per row with nearest_centroid's rule (ties: the lower index).
void nearest_of_rows(const float* x, int n, int d, const float* cent, int clusters, int* out) {
  thread_local ScratchF32 qt_buf, st_buf;
  float* qt = qt_buf.get(static_cast<size_t>(d) * kQRows);
  std::fill(qt, qt + static_cast<size_t>(d) * kQRows, 0.0f);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < d; ++c) qt[c * kQRows + r] = x[static_cast<size_t>(r) * d + c];
  float* st = st_buf.get(static_cast<size_t>(clusters) * kQRows);
  score_tile(qt, d, cent, d, clusters, st);
  for (int r = 0; r < n; ++r) {
    int best = 0;
    for (int c = 1; c < clusters; ++c)
      if (st[c * kQRows + r] > st[best * kQRows + r]) best = c;
    out[r] = best;
  }
}

/// Each row's nearest centroid, 32 rows at a time, in parallel.
void assign_rows(const float* x, int n, int d, const std::vector<float>& cent, int clusters, std::vector<int>& assign) {
  assign.resize(n);
  tbb::parallel_for(0, (n + kQRows - 1) / kQRows, [&](int blk) {
    const int r0 = blk * kQRows;
    nearest_of_rows(x + static_cast<size_t>(r0) * d, std::min(kQRows, n - r0), d, cent.data(), clusters,
                    assign.data() + r0);
  });
}

/// Rows of one (batch, query head) grouped by cluster: order[] lists the rows of
/// cluster 0, then 1, ... (ascending within a cluster); runs[c] = [start, end) in order.
struct RowGroups {
  std::vector<int> order;
  std::vector<int> start;  // clusters + 1 offsets
};

RowGroups group_by_cluster(const std::vector<int>& cluster_of, int clusters) {
  RowGroups g;
  g.start.assign(clusters + 1, 0);
  for (int c : cluster_of) ++g.start[c + 1];
  for (int c = 0; c < clusters; ++c) g.start[c + 1] += g.start[c];
  g.order.resize(cluster_of.size());
  std::vector<int> next(g.start.begin(), g.start.end() - 1);
  for (size_t i = 0; i < cluster_of.size(); ++i) g.order[next[cluster_of[i]]++] = static_cast<int>(i);
  return g;
}

}  // namespace

int nearest_centroid(const float* x, const float* centroids, int clusters, int d) {
  int best = 0;
  float best_dot = -INFINITY;
  for (int c = 0; c < clusters; ++c) {
    const float s = topk::dot(x, centroids + static_cast<size_t>(c) * d, d);
    if (s > best_dot) best = c, best_dot = s;
  }
  return best;
}

std::vector<float> spherical_kmeans(const float* x, int n, int d, int clusters, int iters, std::vector<int>& assign) {
  std::vector<float> unit(x, x + static_cast<size_t>(n) * d);
  for (int t = 0; t < n; ++t) normalise(unit.data() + static_cast<size_t>(t) * d, d);
  std::vector<float> cent(static_cast<size_t>(clusters) * d);
  for (int c = 0; c < clusters; ++c) {
    const int t = static_cast<int>((2LL * c + 1) * n / (2LL * clusters));
    std::copy_n(unit.data() + static_cast<size_t>(t) * d, d, cent.data() + static_cast<size_t>(c) * d);
  }
  std::vector<float> sum;
  for (int it = 0; it < iters; ++it) {
    assign_rows(unit.data(), n, d, cent, clusters, assign);
    sum.assign(cent.size(), 0.0f);
    for (int t = 0; t < n; ++t) {
      float* s = sum.data() + static_cast<size_t>(assign[t]) * d;
      const float* u = unit.data() + static_cast<size_t>(t) * d;
      for (int c = 0; c < d; ++c) s[c] += u[c];
    }
    for (int c = 0; c < clusters; ++c) {
      float* s = sum.data() + static_cast<size_t>(c) * d;
      normalise(s, d);
      if (topk::dot(s, s, d) > 0) std::copy_n(s, d, cent.data() + static_cast<size_t>(c) * d);
    }
  }
  assign_rows(unit.data(), n, d, cent, clusters, assign);
  return cent;
}

Check routing_supports(const ab_attention_args&, const VariantOptions& options) {
  RoutingOptions o;
  return parse(options, o);
}

void routing_run(const ab_attention_args& a, const VariantOptions& options) {
  RoutingOptions o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim;
  const topk::KvF32 kv(a);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  // Rows are attended in cluster order, so that the rows of one cluster (which share
  // their keys) fill the 32 lanes of the row kernel together: Q and O go through copies
  // permuted per (batch, head), which the row kernel reads as ordinary rows.
  // The copies are kept by the calling thread for its next call: fresh zeroed pages of
  // this size cost more than the attention at long lengths (page faults).
  const size_t elem = a.dtype == AB_F32 ? 4 : 2, row_bytes = elem * d;
  const size_t floats = (static_cast<size_t>(a.batch) * a.heads_q * a.len_q * row_bytes + 3) / 4;
  thread_local ScratchF32 q_perm, o_perm;
  ab_attention_args ap = a;
  ap.q = reinterpret_cast<ab_buffer>(q_perm.get(floats));
  ap.o = reinterpret_cast<ab_buffer>(o_perm.get(floats));
  const auto row_at = [&](ab_buffer base, int b, int h, int i) {
    return host_ptr<unsigned char>(base) + row_offset(b, h, i, a.heads_q, a.len_q, d) * elem;
  };

  for (int b = 0; b < a.batch; ++b) {
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    if (lq <= 0) continue;
    const int clusters = std::clamp(o.clusters > 0 ? o.clusters : static_cast<int>(std::lround(std::sqrt(lk))), 1,
                                    std::max(1, lk));
    for (int hk = 0; hk < a.heads_kv; ++hk) {
      std::vector<int> key_cluster;
      std::vector<float> cent;
      if (lk > 0) cent = spherical_kmeans(kv.k(b, hk, 0), lk, d, clusters, o.iters, key_cluster);
      else cent.assign(static_cast<size_t>(clusters) * d, 0.0f);
      const RowGroups keys = group_by_cluster(key_cluster, clusters);  // ascending positions per cluster
      const int group = a.heads_q / a.heads_kv;
      tbb::parallel_for(hk * group, (hk + 1) * group, [&](int h) {
        std::vector<int> row_cluster(lq);
        tbb::parallel_for(0, (lq + kQRows - 1) / kQRows, [&](int blk) {
          const int i0 = blk * kQRows, n = std::min(kQRows, lq - i0);
          thread_local std::vector<float> q;
          q.resize(static_cast<size_t>(kQRows) * d);
          for (int r = 0; r < n; ++r)
            load_row_f32(a.dtype, a.q, row_offset(b, h, i0 + r, a.heads_q, a.len_q, d), q.data() + static_cast<size_t>(r) * d, d);
          nearest_of_rows(q.data(), n, d, cent.data(), clusters, row_cluster.data() + i0);
        });
        const RowGroups rows = group_by_cluster(row_cluster, clusters);
        for (int j = 0; j < lq; ++j)
          std::memcpy(row_at(ap.q, b, h, j), row_at(a.q, b, h, rows.order[j]), row_bytes);
        // Blocks of up to 32 rows of one cluster.
        std::vector<std::pair<int, int>> blocks;
        for (int c = 0; c < clusters; ++c)
          for (int j = rows.start[c]; j < rows.start[c + 1]; j += kSparseRows)
            blocks.push_back({j, std::min(kSparseRows, rows.start[c + 1] - j)});
        tbb::parallel_for(size_t(0), blocks.size(), [&](size_t k) {
          const auto [j0, n] = blocks[k];
          SparseRows& s = sparse_rows_scratch();
          const int c = row_cluster[rows.order[j0]];
          const int* ck = keys.order.data() + keys.start[c];
          const int nk = keys.start[c + 1] - keys.start[c];
          for (int r = 0; r < n; ++r) {
            const int i = rows.order[j0 + r], pos = i + lk - lq;
            const KeyRange vis = mask.keys_for(i, lq, lk);
            // The cluster's visible keys and the row's own position, merged in order
            // straight into ranges (no key list to copy).
            std::vector<KeyRange>& rg = s.ranges[r];
            rg.clear();
            const auto push = [&](int t) {
              if (!rg.empty() && rg.back().hi == t) ++rg.back().hi;
              else rg.push_back({t, t + 1});
            };
            bool own = pos >= vis.lo && pos < vis.hi;
            for (const int* t = std::lower_bound(ck, ck + nk, vis.lo); t < ck + nk && *t < vis.hi; ++t) {
              if (own && pos <= *t) {
                if (pos < *t) push(pos);
                own = false;
              }
              push(*t);
            }
            if (own) push(pos);
          }
          attend_row_lists(ap, b, h, j0, 1, n, s);
        });
        for (int j = 0; j < lq; ++j)
          std::memcpy(row_at(a.o, b, h, rows.order[j]), row_at(ap.o, b, h, j), row_bytes);
      });
    }
  }
}

AB_CPU_NS_END
