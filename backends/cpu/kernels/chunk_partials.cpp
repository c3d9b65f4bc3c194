#include "chunk_partials.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kKeys = kDecodeKeys;

struct Scratch {
  ScratchF32 q, o, p, lsum, m, alpha, kt, vt, zero;
};
thread_local Scratch tls_scratch;
thread_local ScratchF32 tls_partials;

/// Row pointers of keys [k0, k0 + nk) of (kb, hk): the tensor itself when DIRECT,
/// else zero-padded fp32 copies in conv; slots j >= nk point at a zero row.
template <ab_dtype DT, bool DIRECT>
void block_rows(const ab_attention_args& a, const void* base, int kb, int hk, int k0, int nk, int dpad,
                float* conv, const float* zero, const void* (&rows)[kKeys]) {
  const int d = a.head_dim;
  for (int j = 0; j < kKeys; ++j) {
    if (j >= nk) { rows[j] = zero; continue; }
    const size_t off = row_offset(kb, hk, k0 + j, a.heads_kv, a.len_k, d);
    if constexpr (DIRECT) {
      rows[j] = static_cast<const char*>(base) + off * dtype_size(DT);
    } else {
      float* dst = conv + static_cast<size_t>(j) * dpad;
      load_row_f32(DT, base, off, dst, d);
      std::fill(dst + d, dst + dpad, 0.0f);
      rows[j] = dst;
    }
  }
}

/// attend_chunk for storage type DT; DIRECT: the microkernels read K/V rows in place
/// (head dim a multiple of 16), else from zero-padded fp32 copies.
template <ab_dtype DT, bool DIRECT>
void attend_chunk_as(const ab_attention_args& a, const MaskHook& mask, int kb, int hk, int c0, int c1, int b0,
                     int b1, int slot, const Partials& out) {
  constexpr ab_dtype ST = DIRECT ? DT : AB_F32;
  const int d = a.head_dim, dpad = out.dpad, nv = dpad / 16;
  const int group = a.heads_q / a.heads_kv, lq = a.len_q, lk = a.len_k;
  const int rows_max = out.rows_max, rows = (b1 - b0) * rows_max;
  const int rows4 = (rows + kDecodeRows - 1) / kDecodeRows * kDecodeRows;
  Scratch& s = tls_scratch;

  int lo[kMaxChunkQueries], hi[kMaxChunkQueries], walk_lo = INT_MAX, walk_hi = INT_MIN, all_lo = 0,
      all_hi = INT_MAX;
  for (int i = 0; i < lq; ++i) {
    const KeyRange r = mask.keys_for(i, lq, lk);
    lo[i] = std::max(r.lo, c0);
    hi[i] = std::min(r.empty() ? r.lo : r.hi, c1);
    all_lo = std::max(all_lo, lo[i]);
    all_hi = std::min(all_hi, hi[i]);
    if (hi[i] > lo[i]) { walk_lo = std::min(walk_lo, lo[i]); walk_hi = std::max(walk_hi, hi[i]); }
  }
  const auto dest = [&](int r) { return out.index(b0 + r / rows_max, hk, slot, r % rows_max); };
  if (walk_lo >= walk_hi) {
    for (int r = 0; r < rows; ++r) { out.m[dest(r)] = -INFINITY; out.l[dest(r)] = 0.0f; }
    return;
  }

  const size_t plane = static_cast<size_t>(rows4) * dpad;
  float* q = s.q.get(plane);
  std::fill(q, q + plane, 0.0f);
  const float qscale = a.scale * kLog2e;
  for (int r = 0; r < rows; ++r) {
    const int b = b0 + r / rows_max, rl = r % rows_max, h = hk * group + rl / lq, i = rl % lq;
    float* qr = q + static_cast<size_t>(r) * dpad;
    load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), qr, d);
    for (int t = 0; t < d; ++t) qr[t] *= qscale;
  }
  float* o = s.o.get(plane);
  std::fill(o, o + plane, 0.0f);
  float* p = s.p.get(static_cast<size_t>(rows4) * kKeys);
  float* lsum = s.lsum.get(static_cast<size_t>(rows4) * kKeys);
  std::fill(lsum, lsum + static_cast<size_t>(rows4) * kKeys, 0.0f);
  float* m = s.m.get(rows4);
  std::fill(m, m + rows4, -INFINITY);
  float* alpha = s.alpha.get(rows4);
  float* zero = s.zero.get(dpad);
  std::fill(zero, zero + dpad, 0.0f);
  float* kconv = s.kt.get(static_cast<size_t>(kKeys) * dpad);
  float* vconv = s.vt.get(static_cast<size_t>(kKeys) * dpad);
  const float softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  const size_t esize = dtype_size(a.dtype);
  const int row_bytes = d * static_cast<int>(esize);

  for (int k0 = walk_lo; k0 < walk_hi; k0 += kKeys) {
    const int nk = std::min(kKeys, walk_hi - k0);
    const void* krows[kKeys];
    block_rows<DT, DIRECT>(a, a.k, kb, hk, k0, nk, dpad, kconv, zero, krows);
    const char* knext[kKeys];
    const char* vnext[kKeys];
    for (int j = 0; j < kKeys; ++j) {
      const int t = k0 + kKeys + j;
      const size_t off = t < walk_hi ? row_offset(kb, hk, t, a.heads_kv, lk, d) * esize : 0;
      knext[j] = t < walk_hi ? static_cast<const char*>(static_cast<const void*>(a.k)) + off : nullptr;
      vnext[j] = t < walk_hi ? static_cast<const char*>(static_cast<const void*>(a.v)) + off : nullptr;
    }
    for (int r = 0; r < rows4; r += kDecodeRows)
      decode_scores<ST>(q + static_cast<size_t>(r) * dpad, dpad, krows, nv, p + r * kKeys,
                        r == 0 ? knext : nullptr, row_bytes);
    const bool need_mask = nk < kKeys || !(k0 >= all_lo && k0 + kKeys <= all_hi);
    for (int r = 0; r < rows; ++r) {
      const int i = (r % rows_max) % lq;
      alpha[r] = decode_softmax_row(p + r * kKeys, lsum + r * kKeys, m[r], k0, nk, lo[i], hi[i], need_mask, softcap2);
    }
    for (int r = rows; r < rows4; ++r) alpha[r] = 0.0f;
    const void* vrows[kKeys];
    block_rows<DT, DIRECT>(a, a.v, kb, hk, k0, nk, dpad, vconv, zero, vrows);
    for (int r = 0; r < rows4; r += kDecodeRows)
      decode_values<ST>(o + static_cast<size_t>(r) * dpad, dpad, alpha + r, p + r * kKeys, vrows, nk, nv,
                        r == 0 ? vnext : nullptr, row_bytes);
  }
  for (int r = 0; r < rows; ++r) {
    const size_t at = dest(r);
    std::copy(o + static_cast<size_t>(r) * dpad, o + static_cast<size_t>(r + 1) * dpad, out.o + at * dpad);
    out.m[at] = m[r];
    out.l[at] = v_reduce_add(v_load(lsum + r * kKeys));
  }
}

template <ab_dtype DT>
void attend_chunk_dt(const ab_attention_args& a, const MaskHook& mask, int kb, int hk, int c0, int c1, int b0,
                     int b1, int slot, const Partials& out) {
  if (a.head_dim % 16 == 0) attend_chunk_as<DT, true>(a, mask, kb, hk, c0, c1, b0, b1, slot, out);
  else attend_chunk_as<DT, false>(a, mask, kb, hk, c0, c1, b0, b1, slot, out);
}

}  // namespace

Partials alloc_partials(const ab_attention_args& a, int slots) {
  const int dpad = (a.head_dim + 15) / 16 * 16;
  const int rows_max = (a.heads_q / a.heads_kv) * a.len_q;
  const size_t pslots = static_cast<size_t>(a.batch) * a.heads_kv * slots * rows_max;
  float* part = tls_partials.get(pslots * (dpad + 2));
  return {part, part + pslots * dpad, part + pslots * (dpad + 1), slots, rows_max, dpad, a.heads_kv};
}

void clear_partials(const ab_attention_args& a, const Partials& P) {
  const size_t n = static_cast<size_t>(a.batch) * a.heads_kv * P.slots * P.rows_max;
  std::fill(P.m, P.m + n, -INFINITY);
  std::fill(P.l, P.l + n, 0.0f);
}

void attend_chunk(const ab_attention_args& a, const MaskHook& mask, int kb, int hk, int c0, int c1, int b0,
                  int b1, int slot, const Partials& out) {
  switch (a.dtype) {
    case AB_F32: attend_chunk_dt<AB_F32>(a, mask, kb, hk, c0, c1, b0, b1, slot, out); break;
    case AB_BF16: attend_chunk_dt<AB_BF16>(a, mask, kb, hk, c0, c1, b0, b1, slot, out); break;
    case AB_F16: attend_chunk_dt<AB_F16>(a, mask, kb, hk, c0, c1, b0, b1, slot, out); break;
  }
}

void merge(const ab_attention_args& a, int b, int hk, const Partials& P) {
  const int d = a.head_dim, group = a.heads_q / a.heads_kv, lq = a.len_q;
  thread_local std::vector<float> acc;
  acc.assign(d, 0.0f);
  for (int r = 0; r < group * lq; ++r) {
    const int h = hk * group + r / lq, i = r % lq;
    const size_t o_off = row_offset(b, h, i, a.heads_q, a.len_q, d);
    float mx = -INFINITY;
    for (int c = 0; c < P.slots; ++c) mx = std::max(mx, P.m[P.index(b, hk, c, r)]);
    if (mx == -INFINITY) {
      store_zero_row(a.dtype, a.o, o_off, d);
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    float l = 0.0f;
    for (int c = 0; c < P.slots; ++c) {
      const size_t it = P.index(b, hk, c, r);
      if (P.m[it] == -INFINITY) continue;
      const float w = std::exp2(P.m[it] - mx);
      l += w * P.l[it];
      const float* o = P.o + it * P.dpad;
      for (int t = 0; t < d; ++t) acc[t] += w * o[t];
    }
    const float inv = 1.0f / l;
    for (int t = 0; t < d; ++t) acc[t] *= inv;
    store_row(a.dtype, a.o, o_off, acc.data(), d);
  }
}

AB_CPU_NS_END
