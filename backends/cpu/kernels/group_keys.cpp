#include "group_keys.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "decode_microkernel.h"

AB_CPU_NS_BEGIN

KvRowsPadded::KvRowsPadded(const ab_attention_args& a)
    : kv_(a), heads_kv_(a.heads_kv), len_k_(a.len_k), dpad_((a.head_dim + 15) / 16 * 16), padded_(dpad_ != a.head_dim) {
  if (!padded_) return;
  const int d = a.head_dim;
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k;
  kp_.assign(rows * dpad_, 0.0f);
  vp_.assign(rows * dpad_, 0.0f);
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
    const int b = bh / a.heads_kv, h = bh % a.heads_kv;
    for (int t = 0; t < a.len_k; ++t) {
      std::copy_n(kv_.k(b, h, t), d, kp_.data() + off(b, h, t));
      std::copy_n(kv_.v(b, h, t), d, vp_.data() + off(b, h, t));
    }
  });
}

void GroupAttention::set_queries(const float* q, int rows, int d, float scale, float softcap) {
  rows_ = rows, rows4_ = (rows + kDecodeRows - 1) / kDecodeRows * kDecodeRows;
  d_ = d, dpad_ = (d + 15) / 16 * 16;
  softcap2_ = softcap > 0.0f ? softcap * kLog2e : 0.0f;
  float* qs = q_.get(static_cast<size_t>(rows4_) * dpad_);
  std::fill(qs, qs + static_cast<size_t>(rows4_) * dpad_, 0.0f);
  const float c = scale * kLog2e;  // base-2 logits, as the decode kernel keeps them
  for (int r = 0; r < rows; ++r)
    for (int e = 0; e < d; ++e) qs[static_cast<size_t>(r) * dpad_ + e] = q[static_cast<size_t>(r) * d + e] * c;
  float* z = zero_.get(dpad_);
  std::fill(z, z + dpad_, 0.0f);
}

void GroupAttention::attend(const float* const* krows, const float* const* vrows, int n, float* out, float* probs) {
  if (n <= 0) {
    std::fill(out, out + static_cast<size_t>(rows_) * d_, 0.0f);
    return;
  }
  // Two passes: every score of the (short) list first, in blocks of [rows4][16], then
  // one softmax per row and P V with the probabilities (no online rescaling needed).
  const int blocks = (n + kDecodeKeys - 1) / kDecodeKeys, nv = dpad_ / 16;
  const size_t bsize = static_cast<size_t>(rows4_) * kDecodeKeys;
  float* sc = sc_.get(blocks * bsize);
  const float* q = q_.get(0);
  const float* zero = zero_.get(0);
  const void* rows16[kDecodeKeys];
  const char* next16[kDecodeKeys];  // the next block's rows, prefetched while this one computes
  const int row_bytes = dpad_ * static_cast<int>(sizeof(float));
  const auto fill_rows = [&](const float* const* src, int j0) {
    const int nk = std::min(kDecodeKeys, n - j0);
    for (int j = 0; j < kDecodeKeys; ++j) {
      rows16[j] = j < nk ? src[j0 + j] : zero;
      const int t = j0 + kDecodeKeys + j;
      next16[j] = t < n ? reinterpret_cast<const char*>(src[t]) : nullptr;
    }
    return nk;
  };
  for (int bl = 0; bl < blocks; ++bl) {
    fill_rows(krows, bl * kDecodeKeys);
    for (int r = 0; r < rows4_; r += kDecodeRows)
      decode_scores<AB_F32>(q + static_cast<size_t>(r) * dpad_, dpad_, rows16, nv, sc + bl * bsize + r * kDecodeKeys,
                            r == 0 ? next16 : nullptr, row_bytes);
  }
  const int tail = n - (blocks - 1) * kDecodeKeys;  // keys in the last block
  for (int r = 0; r < rows4_; ++r) {
    if (r >= rows_) {  // padding rows weight nothing
      for (int bl = 0; bl < blocks; ++bl) v_store(sc + bl * bsize + r * kDecodeKeys, v_zero());
      continue;
    }
    float m = -INFINITY;
    for (int bl = 0; bl < blocks; ++bl) {
      float* s = sc + bl * bsize + r * kDecodeKeys;
      V16 x = v_load(s);
      if (softcap2_ > 0.0f) x = v_mul(v_set1(softcap2_), v_tanh(v_mul(x, v_set1(1.0f / softcap2_))));
      if (bl == blocks - 1) x = v_mask_keys(x, 0, 0, tail);
      v_store(s, x);
      m = std::max(m, v_reduce_max(x));
    }
    V16 sum = v_zero();
    for (int bl = 0; bl < blocks; ++bl) {
      float* s = sc + bl * bsize + r * kDecodeKeys;
      const V16 p = v_exp2(v_sub(v_load(s), v_set1(m)));
      v_store(s, p);
      sum = v_add(sum, p);
    }
    const V16 inv = v_set1(1.0f / v_reduce_add(sum));
    for (int bl = 0; bl < blocks; ++bl) {
      float* s = sc + bl * bsize + r * kDecodeKeys;
      v_store(s, v_mul(v_load(s), inv));
      if (probs)
        for (int j = 0; j < kDecodeKeys && bl * kDecodeKeys + j < n; ++j)
          probs[static_cast<size_t>(r) * n + bl * kDecodeKeys + j] = s[j];
    }
  }
  float* o = o_.get(static_cast<size_t>(rows4_) * dpad_);
  std::fill(o, o + static_cast<size_t>(rows4_) * dpad_, 0.0f);
  const float ones[kDecodeRows] = {1.0f, 1.0f, 1.0f, 1.0f};
  for (int bl = 0; bl < blocks; ++bl) {
    const int nk = fill_rows(vrows, bl * kDecodeKeys);
    for (int r = 0; r < rows4_; r += kDecodeRows)
      decode_values<AB_F32>(o + static_cast<size_t>(r) * dpad_, dpad_, ones, sc + bl * bsize + r * kDecodeKeys, rows16,
                            nk, nv, r == 0 ? next16 : nullptr, row_bytes);
  }
  for (int r = 0; r < rows_; ++r)
    std::copy_n(o + static_cast<size_t>(r) * dpad_, d_, out + static_cast<size_t>(r) * d_);
}

AB_CPU_NS_END
