#include "prefix_shared.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "decode_microkernel.h"
#include "tensor_access.h"
#include "topk_common.h"

namespace attnbench::cpu {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kKeys = kDecodeKeys;
constexpr int kMaxQueries = 16;
constexpr int kMaxPhase1Rows = 64;  // query rows per phase-1 item (sequences grouped up to this)

struct Options {
  int prefix = -1, chunk = 512;
};

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "prefix_shared: " + why}; }

Check parse(const VariantOptions& options, Options& o) {
  int v[2];
  if (Check c = topk::parse_int_options("prefix_shared", options,
                                        {{"prefix", -1, 0, INT_MAX}, {"chunk", 512, 1, 1 << 24}}, v);
      !c.ok())
    return c;
  o.prefix = v[0];
  o.chunk = (v[1] + kKeys - 1) / kKeys * kKeys;
  if (o.prefix < 0) return refuse("option prefix=N (shared prefix length) is required");
  return {};
}

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

/// Partials of all (b, hk): `slots` chunks per (b, hk), rows_max rows per slot.
struct Partials {
  float *o, *m, *l;
  int slots, rows_max, dpad, heads_kv;
  size_t index(int b, int hk, int slot, int r) const {
    return ((static_cast<size_t>(b) * heads_kv + hk) * slots + slot) * rows_max + r;
  }
};

/// Keys [c0, c1) of KV (kb, hk) for the query rows of sequences [b0, b1) (all heads of
/// the group, all queries): each K/V row is read once for every row. Row r is
/// sequence b0 + r / rows_max, local row r % rows_max = g * len_q + i. Writes the
/// partial of each row to slot `slot` of its own sequence.
template <ab_dtype DT, bool DIRECT>
void attend_chunk(const ab_attention_args& a, int kb, int hk, int c0, int c1, int b0, int b1, int slot,
                  const Partials& out) {
  constexpr ab_dtype ST = DIRECT ? DT : AB_F32;
  const int d = a.head_dim, dpad = out.dpad, nv = dpad / 16;
  const int group = a.heads_q / a.heads_kv, lq = a.len_q, lk = a.len_k;
  const int rows_max = out.rows_max, rows = (b1 - b0) * rows_max;
  const int rows4 = (rows + kDecodeRows - 1) / kDecodeRows * kDecodeRows;
  const MaskHook mask{a.causal, -1, -1};  // windows are refused unless they hide nothing
  Scratch& s = tls_scratch;

  int lo[kMaxQueries], hi[kMaxQueries], walk_lo = INT_MAX, walk_hi = INT_MIN, all_lo = 0, all_hi = INT_MAX;
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

/// Log-sum-exp merge of all slots of (b, hk) into the output rows.
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

template <ab_dtype DT>
void run_all(const ab_attention_args& a, const Options& opt) {
  const int dpad = (a.head_dim + 15) / 16 * 16;
  const int rows_max = (a.heads_q / a.heads_kv) * a.len_q;
  const int prefix = std::min(opt.prefix, a.len_k), chunk = opt.chunk;
  const int n_pre = (prefix + chunk - 1) / chunk;
  const int n_suf = (a.len_k - prefix + chunk - 1) / chunk;
  const int slots = std::max(1, n_pre + n_suf);
  // Phase 1 items: (KV head, prefix chunk, group of sequences of <= kMaxPhase1Rows rows).
  const int seqs_per = std::max(1, kMaxPhase1Rows / rows_max);
  const int n_bgroups = (a.batch + seqs_per - 1) / seqs_per;
  const size_t items1 = static_cast<size_t>(a.heads_kv) * n_pre * n_bgroups;
  const size_t items2 = static_cast<size_t>(a.batch) * a.heads_kv * n_suf;
  const size_t pslots = static_cast<size_t>(a.batch) * a.heads_kv * slots * rows_max;
  float* part = tls_partials.get(pslots * (dpad + 2));
  Partials P{part, part + pslots * dpad, part + pslots * (dpad + 1), slots, rows_max, dpad, a.heads_kv};
  if (n_pre + n_suf == 0)  // len_k == 0: no key anywhere
    for (size_t i = 0; i < pslots; ++i) { P.m[i] = -INFINITY; P.l[i] = 0.0f; }
  const bool direct = a.head_dim % 16 == 0;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, items1 + items2, 1), [&](const tbb::blocked_range<size_t>& rg) {
    for (size_t it = rg.begin(); it != rg.end(); ++it) {
      if (it < items1) {  // shared prefix: keys of batch 0, rows of a group of sequences
        const int bg = static_cast<int>(it % n_bgroups), c = static_cast<int>(it / n_bgroups % n_pre);
        const int hk = static_cast<int>(it / n_bgroups / n_pre);
        const int b0 = bg * seqs_per, b1 = std::min(a.batch, b0 + seqs_per);
        const int c0 = c * chunk, c1 = std::min(prefix, c0 + chunk);
        if (direct) attend_chunk<DT, true>(a, 0, hk, c0, c1, b0, b1, c, P);
        else attend_chunk<DT, false>(a, 0, hk, c0, c1, b0, b1, c, P);
      } else {  // own suffix of one sequence
        const size_t j = it - items1;
        const int c = static_cast<int>(j % n_suf), bh = static_cast<int>(j / n_suf);
        const int b = bh / a.heads_kv, hk = bh % a.heads_kv;
        const int c0 = prefix + c * chunk, c1 = std::min(a.len_k, c0 + chunk);
        if (direct) attend_chunk<DT, true>(a, b, hk, c0, c1, b, b + 1, n_pre + c, P);
        else attend_chunk<DT, false>(a, b, hk, c0, c1, b, b + 1, n_pre + c, P);
      }
    }
  });
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) { merge(a, bh / a.heads_kv, bh % a.heads_kv, P); });
}

}  // namespace

Check prefix_shared_supports(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  if (Check c = parse(options, o); !c.ok()) return c;
  if (o.prefix > a.len_k)
    return refuse("prefix=" + std::to_string(o.prefix) + " is larger than len_k (" + std::to_string(a.len_k) + ")");
  if (a.len_q > kMaxQueries)
    return refuse("handles len_q <= " + std::to_string(kMaxQueries) + " (got " + std::to_string(a.len_q) +
                  "); it is a decode-time kernel");
  if (a.seq_len_q || a.seq_len_k)
    return refuse("per-sequence lengths (varlen) are not supported: the shared prefix needs one len_k");
  const MaskHook plain{a.causal, -1, -1}, windowed{a.causal, a.window_left, a.window_right};
  for (int i = 0; i < a.len_q; ++i) {
    const KeyRange x = plain.keys_for(i, a.len_q, a.len_k), y = windowed.keys_for(i, a.len_q, a.len_k);
    if (x.lo != y.lo || x.hi != y.hi) return refuse("sliding windows are not supported (window hides keys)");
  }
  return {};
}

void prefix_shared_run(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  switch (a.dtype) {
    case AB_F32: run_all<AB_F32>(a, o); break;
    case AB_BF16: run_all<AB_BF16>(a, o); break;
    case AB_F16: run_all<AB_F16>(a, o); break;
  }
}

}  // namespace attnbench::cpu
