#include "topk_common.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "pair_count.h"
#include "sparse_rows.h"

AB_CPU_NS_BEGIN
namespace topk {
namespace {

Check refuse(const char* variant, const std::string& why) {
  return {AB_UNSUPPORTED, std::string(variant) + ": " + why};
}

float tanh_f(float x) { return std::tanh(x); }

/// Softmax-weighted sum of V rows; logits[j] belongs to key keys_at(j).
template <class KeyAt>
void softmax_accumulate(const float* q, const KvF32& kv, int b, int h, int d, const LogitsHook& lh,
                        int n, KeyAt key_at, std::vector<float>& s, float* out) {
  std::fill(out, out + d, 0.0f);
  if (n == 0) return;
  s.resize(n);
  float m = -INFINITY;
  for (int j = 0; j < n; ++j) {
    s[j] = lh.apply(dot(q, kv.k(b, h, key_at(j)), d), tanh_f);
    m = std::max(m, s[j]);
  }
  double sum = 0;
  for (int j = 0; j < n; ++j) {
    const float p = std::exp(s[j] - m);
    sum += p;
    const float* vr = kv.v(b, h, key_at(j));
    for (int c = 0; c < d; ++c) out[c] += p * vr[c];
  }
  if (!(sum > 0)) {
    std::fill(out, out + d, 0.0f);
    return;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int c = 0; c < d; ++c) out[c] *= inv;
}

}  // namespace

Check parse_int_options(const char* variant, const VariantOptions& options,
                        std::initializer_list<IntOption> spec, int* values) {
  int i = 0;
  for (const IntOption& o : spec) values[i++] = o.fallback;
  for (const auto& [key, value] : options) {
    int idx = 0;
    const IntOption* found = nullptr;
    for (const IntOption& o : spec) {
      if (key == o.name) { found = &o; break; }
      ++idx;
    }
    if (!found) {
      std::string known;
      for (const IntOption& o : spec) known += (known.empty() ? "" : ", ") + std::string(o.name);
      return refuse(variant, "unknown option '" + key + "' (options: " + known + ")");
    }
    char* end = nullptr;
    errno = 0;
    const long x = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno == ERANGE)
      return refuse(variant, "option " + key + "='" + value + "' is not an integer");
    if (x < found->lo || x > found->hi)
      return refuse(variant, "option " + key + "=" + value + " is outside [" + std::to_string(found->lo) + ", " +
                                 std::to_string(found->hi) + "]");
    values[idx] = static_cast<int>(x);
  }
  return {};
}

KvF32::KvF32(const ab_attention_args& a) : heads_kv_(a.heads_kv), len_k_(a.len_k), d_(a.head_dim) {
  if (a.dtype == AB_F32) {
    k_ = host_ptr<const float>(a.k);
    v_ = host_ptr<const float>(a.v);
    return;
  }
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k;
  k_copy_.resize(rows * d_);
  v_copy_.resize(rows * d_);
  tbb::parallel_for(size_t(0), rows, [&](size_t r) {
    load_row_f32(a.dtype, a.k, r * d_, k_copy_.data() + r * d_, d_);
    load_row_f32(a.dtype, a.v, r * d_, v_copy_.data() + r * d_, d_);
  });
  k_ = k_copy_.data();
  v_ = v_copy_.data();
}

std::vector<int> select_top_k(const float* scores, int n, int k) {
  std::vector<int> idx(n);
  for (int j = 0; j < n; ++j) idx[j] = j;
  if (k < n) {
    const auto better = [&](int x, int y) { return scores[x] > scores[y] || (scores[x] == scores[y] && x < y); };
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(), better);
    idx.resize(std::max(k, 0));
    std::sort(idx.begin(), idx.end());
  }
  return idx;
}

float dot(const float* x, const float* y, int d) {
  V16 acc = v_zero();
  int c = 0;
  for (; c + 16 <= d; c += 16) acc = v_fmadd(v_load(x + c), v_load(y + c), acc);
  float tail = 0.0f;
  for (; c < d; ++c) tail += x[c] * y[c];
  return v_reduce_add(acc) + tail;
}

void attend_ranges(const float* q, const KvF32& kv, int b, int h, int d, const LogitsHook& logits,
                   const std::vector<KeyRange>& ranges, std::vector<float>& scratch, float* out) {
  thread_local std::vector<int> keys;
  keys.clear();
  for (const KeyRange& r : ranges)
    for (int t = r.lo; t < r.hi; ++t) keys.push_back(t);
  attend_indices(q, kv, b, h, d, logits, keys, scratch, out);
}

void attend_indices(const float* q, const KvF32& kv, int b, int h, int d, const LogitsHook& logits,
                    const std::vector<int>& keys, std::vector<float>& scratch, float* out) {
  count_pairs(keys.size());
  softmax_accumulate(q, kv, b, h, d, logits, static_cast<int>(keys.size()),
                     [&](int j) { return keys[j]; }, scratch, out);
}

int floor_div(long long x, int y) { return static_cast<int>(x >= 0 ? x / y : -((-x + y - 1) / y)); }

std::vector<int> candidates_of(KeyRange r, int block, int local) {
  std::vector<int> out;
  if (r.empty()) return out;
  for (int j = r.lo / block; j * block < r.hi; ++j)
    if (j != local) out.push_back(j);
  return out;
}

std::vector<KeyRange> kept_ranges(const std::vector<int>& kept, int block, KeyRange r) {
  std::vector<KeyRange> out;
  for (int j : kept) {
    const int lo = std::max(r.lo, j * block), hi = std::min(r.hi, (j + 1) * block);
    if (hi > lo) out.push_back({lo, hi});
  }
  return out;
}

void attend_routed_blocks(const ab_attention_args& a, int block, const BlockRouter& route_block,
                          const RowRouter& route_row) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, B = block;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q, hk = kv_head_of(h, a.heads_q, a.heads_kv);
    const int lq = len_q_of(a, b), lk = len_k_of(a, b), off = lk - lq;
    if (lq <= 0) return;
    const int nkb = std::max(1, (lk + B - 1) / B);
    const int g0 = floor_div(off, B), g1 = floor_div(static_cast<long long>(lq) - 1 + off, B);
    tbb::parallel_for(g0, g1 + 1, [&](int g) {
      QueryBlock qb;
      qb.b = b, qb.h = h, qb.hk = hk, qb.lq = lq, qb.lk = lk, qb.d = d;
      qb.r0 = std::max(0, g * B - off), qb.r1 = std::min(lq, (g + 1) * B - off);
      qb.local = std::clamp(g, 0, nkb - 1);
      qb.q.resize(static_cast<size_t>(qb.r1 - qb.r0) * d);
      qb.mean.assign(d, 0.0f);
      qb.visible = {lk, 0};
      for (int i = qb.r0; i < qb.r1; ++i) {
        float* qi = qb.q.data() + static_cast<size_t>(i - qb.r0) * d;
        load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), qi, d);
        for (int c = 0; c < d; ++c) qb.mean[c] += qi[c] / static_cast<float>(qb.r1 - qb.r0);
        const KeyRange r = mask.keys_for(i, lq, lk);
        if (!r.empty()) qb.visible = {std::min(qb.visible.lo, r.lo), std::max(qb.visible.hi, r.hi)};
      }
      // The rows attend their kept blocks on the block-sparse tile kernel, 32 rows at a
      // time; rows of one query block mostly share their blocks, so the union is small.
      std::vector<int> kept;
      if (!route_row) {
        kept = route_block(qb);
        std::sort(kept.begin(), kept.end());
      }
      SparseRows& s = sparse_rows_scratch();
      for (int i0 = qb.r0; i0 < qb.r1; i0 += kSparseRows) {
        const int rows = std::min(kSparseRows, qb.r1 - i0);
        for (int r = 0; r < rows; ++r) {
          const KeyRange visible = mask.keys_for(i0 + r, lq, lk);
          if (route_row) {
            kept = route_row(qb, i0 + r, visible);
            std::sort(kept.begin(), kept.end());
          }
          s.ranges[r] = kept_ranges(kept, B, visible);
        }
        attend_row_lists(a, b, h, i0, 1, rows, s);
      }
    });
  });
}

}  // namespace topk
AB_CPU_NS_END
