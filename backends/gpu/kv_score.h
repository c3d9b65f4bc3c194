// Observation scores and statistics of the KV primitives as per-element work items
// (host/device functors, `operator()(index)`): a kernel runs one index per thread
// (kv_kernels.cuh: for_each_kernel), the CPU emulation loops over the indices, so both
// execute the same code. Pointers are device pointers on the GPU, host pointers in the
// emulation. Layouts are those of plugin_abi.h (ab_kv_score_args, ab_kv_stat_args).
#pragma once

#include "kernel_math.h"
#include "kv_math.h"

namespace attnbench::gpu::kv {

/// Everything the observation-score passes read (a device-side copy of the arguments).
struct ScoreParams {
  int heads_q, heads_kv, len_k, head_dim, q_rows, row0, n_obs, keys_stride, pool, pool_end;
  ab_kv_reduce row_reduce, group_reduce;
  float scale;
  const float* k;          // [heads_kv, len_k, head_dim]
  const float* q;          // [heads_q, q_rows, head_dim]
  const int32_t* q_pos;    // [n_obs] or null
  const float* q_weight;   // [n_obs] or null
  const int32_t* keys;     // [heads_kv, keys_stride] or null
  const int32_t* key_count;// [heads_kv] (with keys)
  float* lse;              // scratch [heads_q, n_obs]: log-sum-exp of each observation row
  float* raw;              // [heads_kv, n_out]: reduced scores before pooling
  float* out;              // [heads_kv, n_out]

  AB_INLINE int group() const { return heads_q / heads_kv; }
  AB_INLINE int n_out() const { return keys ? keys_stride : len_k; }
  /// Key slots of kv head j.
  AB_INLINE int count(int j) const { return keys ? key_count[j] : len_k; }
  /// Key position of slot i of kv head j.
  AB_INLINE int position(int j, int i) const { return keys ? keys[static_cast<size_t>(j) * keys_stride + i] : i; }
  /// Whether observation row r sees key position pos.
  AB_INLINE bool visible(int r, int pos) const { return !q_pos || pos <= q_pos[r]; }
  AB_INLINE const float* q_row(int h, int r) const {
    return q + (static_cast<size_t>(h) * q_rows + row0 + r) * head_dim;
  }
  AB_INLINE const float* k_row(int j, int pos) const {
    return k + (static_cast<size_t>(j) * len_k + pos) * head_dim;
  }
};

/// Pass 1, one index per (query head, observation row): the row's log-sum-exp over the
/// key slots it sees (-inf when it sees none).
struct ScoreRowLse {
  ScoreParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_q) * p.n_obs; }
  AB_INLINE void operator()(int64_t idx) const {
    const int h = static_cast<int>(idx / p.n_obs), r = static_cast<int>(idx % p.n_obs);
    const int j = h / p.group();
    const float* q = p.q_row(h, r);
    OnlineSoftmax st = OnlineSoftmax::start();
    for (int i = 0, n = p.count(j); i < n; ++i) {
      const int pos = p.position(j, i);
      if (!p.visible(r, pos)) continue;
      const float logit = p.scale * dot_row(q, p.k_row(j, pos), p.head_dim);
      st.rescale(logit);
      st.add(st.prob(logit));
    }
    p.lse[idx] = st.lse();
  }
};

/// Pass 2, one index per (kv head, key slot): the row- and group-reduced probability of
/// the slot, written to `raw` (which is `out` itself when nothing is pooled).
struct ScoreSlot {
  ScoreParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.n_out(); }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.n_out()), i = static_cast<int>(idx % p.n_out());
    if (i >= p.count(j)) return;  // slots past key_count stay untouched
    const int pos = p.position(j, i);
    const float* krow = p.k_row(j, pos);
    float total = reduce_identity();
    for (int g = 0; g < p.group(); ++g) {
      const int h = j * p.group() + g;
      float acc = reduce_identity();
      for (int r = 0; r < p.n_obs; ++r) {
        const float lse = p.lse[static_cast<size_t>(h) * p.n_obs + r];
        if (!p.visible(r, pos) || lse == neg_inf()) continue;  // adds 0
        const float prob = expf(p.scale * dot_row(p.q_row(h, r), krow, p.head_dim) - lse);
        const float w = (p.q_weight && p.row_reduce == AB_KV_SUM) ? p.q_weight[r] : 1.0f;
        acc = reduce(p.row_reduce, acc, w * prob);
      }
      total = reduce(p.group_reduce, total, acc);
    }
    p.raw[idx] = total;
  }
};

/// Pass 3 (pool > 1), one index per (kv head, key slot): max over the slots within
/// pool/2 of i, clipped to the pooled prefix [0, min(pool_end, count)); others copied.
struct ScorePool {
  ScoreParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.n_out(); }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.n_out()), i = static_cast<int>(idx % p.n_out());
    const int n = p.count(j);
    if (i >= n) return;
    const int lim = (p.pool_end > 0 && p.pool_end < n) ? p.pool_end : n;
    const float* row = p.raw + static_cast<size_t>(j) * p.n_out();
    float v = row[i];
    if (i < lim) {
      const int lo = i - p.pool / 2 < 0 ? 0 : i - p.pool / 2;
      const int hi = i + p.pool / 2 >= lim ? lim - 1 : i + p.pool / 2;
      for (int s = lo; s <= hi; ++s) v = fmaxf(v, row[s]);
    }
    p.out[idx] = v;
  }
};

/// Everything the statistics read.
struct StatParams {
  int heads_q, heads_kv, len_k, head_dim, q_rows, row0, n_obs;
  float scale;
  const float* k;    // [heads_kv, len_k, head_dim]
  const float* q;    // [heads_q, q_rows, head_dim]
  const float* aux;  // QUERY_MEAN_COV output (EXPECTED_LOGIT)
  float* out;

  AB_INLINE int group() const { return heads_q / heads_kv; }
  /// Floats per head of the QUERY_MEAN_COV output: mean, then the covariance matrix.
  AB_INLINE size_t moments() const { return static_cast<size_t>(head_dim) * (head_dim + 1); }
  AB_INLINE const float* k_row(int j, int t) const { return k + (static_cast<size_t>(j) * len_k + t) * head_dim; }
  AB_INLINE const float* q_row(int h, int r) const { return q + (static_cast<size_t>(h) * q_rows + row0 + r) * head_dim; }
};

/// AB_KV_KEY_L2NORM, one index per (kv head, token).
struct StatKeyNorm {
  StatParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.len_k; }
  AB_INLINE void operator()(int64_t idx) const {
    const float* k = p.k + static_cast<size_t>(idx) * p.head_dim;
    p.out[idx] = sqrtf(dot_row(k, k, p.head_dim));
  }
};

/// AB_KV_KEY_CHANNEL_ABSMEAN, one index per (kv head, channel); 0 for an empty cache.
struct StatChannelAbsMean {
  StatParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.head_dim; }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.head_dim), c = static_cast<int>(idx % p.head_dim);
    float acc = 0.0f;
    for (int t = 0; t < p.len_k; ++t) acc += fabsf(p.k_row(j, t)[c]);
    p.out[idx] = p.len_k > 0 ? acc / static_cast<float>(p.len_k) : 0.0f;
  }
};

/// AB_KV_QUERY_MEAN_COV first half, one index per (query head, channel): the mean.
struct StatQueryMean {
  StatParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_q) * p.head_dim; }
  AB_INLINE void operator()(int64_t idx) const {
    const int h = static_cast<int>(idx / p.head_dim), c = static_cast<int>(idx % p.head_dim);
    float acc = 0.0f;
    for (int r = 0; r < p.n_obs; ++r) acc += p.q_row(h, r)[c];
    p.out[h * p.moments() + c] = acc / static_cast<float>(p.n_obs);
  }
};

/// AB_KV_QUERY_MEAN_COV second half (after StatQueryMean), one index per (query head,
/// channel pair): (1/n) sum_r (q_a - mu_a)(q_b - mu_b), centred for accuracy.
struct StatQueryCov {
  StatParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_q) * p.head_dim * p.head_dim; }
  AB_INLINE void operator()(int64_t idx) const {
    const int dd = p.head_dim * p.head_dim;
    const int h = static_cast<int>(idx / dd), e = static_cast<int>(idx % dd);
    const int a = e / p.head_dim, b = e % p.head_dim;
    const float* mu = p.out + h * p.moments();
    float acc = 0.0f;
    for (int r = 0; r < p.n_obs; ++r) {
      const float* q = p.q_row(h, r);
      acc += (q[a] - mu[a]) * (q[b] - mu[b]);
    }
    p.out[h * p.moments() + p.head_dim + e] = acc / static_cast<float>(p.n_obs);
  }
};

/// AB_KV_EXPECTED_LOGIT, one index per (kv head, token): log of the group sum of
/// exp(scale mu.k + scale^2 k^T Sigma k / 2), summed max-shifted (LogSumExp).
struct StatExpectedLogit {
  StatParams p;
  AB_INLINE int64_t size() const { return static_cast<int64_t>(p.heads_kv) * p.len_k; }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.len_k), t = static_cast<int>(idx % p.len_k);
    const int d = p.head_dim;
    const float* k = p.k_row(j, t);
    LogSumExp acc = LogSumExp::start();
    for (int g = 0; g < p.group(); ++g) {
      const float* mu = p.aux + (j * p.group() + g) * p.moments();
      const float* sigma = mu + d;
      float quad = 0.0f;
      for (int a = 0; a < d; ++a) quad += k[a] * dot_row(sigma + static_cast<size_t>(a) * d, k, d);
      acc.add(p.scale * dot_row(mu, k, d) + 0.5f * p.scale * p.scale * quad);
    }
    p.out[idx] = acc.value();
  }
};

}  // namespace attnbench::gpu::kv
