// `decode`: 1..16 queries over a long KV cache (flash-decoding). The keys of each
// (batch, KV head) are split into chunks processed in parallel; each chunk keeps
// its own running max / sum / accumulator and the chunks are merged by
// log-sum-exp at the end. All query heads of a GQA group (and all queries) are
// processed together, so every K and V row is read from memory once.
//
// Decode is bound by memory bandwidth when the core keeps its work per byte low;
// decode_microkernel.h holds the 4-rows x 16-keys register blocks. 16-bit K/V are
// widened in registers; only head dims that are not a multiple of 16 go through a
// zero-padded fp32 copy of each key block.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "isa_kernels.h"
#include "decode_microkernel.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kKeys = kDecodeKeys;
constexpr int kMinChunk = 512;  // keys per split at least (amortises the merge)

struct DecodeScratch {
  ScratchF32 q, o, p, lsum, m, alpha, kt, vt, zero;
};
thread_local DecodeScratch tls_decode;
thread_local ScratchF32 tls_partials;

/// How the keys of one (batch, KV head) are split across work items.
struct SplitPlan {
  int splits = 1, chunk = 0;
};

SplitPlan plan_splits(const ab_attention_args& a) {
  const int threads = tbb::this_task_arena::max_concurrency();
  const int base_items = std::max(1, a.batch * a.heads_kv);
  int splits = (4 * threads + base_items - 1) / base_items;  // >= 4 items per thread
  splits = std::clamp(splits, 1, std::max(1, a.len_k / kMinChunk));
  int chunk = (a.len_k + splits - 1) / splits;
  chunk = (chunk + kKeys - 1) / kKeys * kKeys;
  return {splits, std::max(chunk, kKeys)};
}

/// Where key t of (b, hk) lives (element offset): contiguous rows or a pool page, in a
/// tensor whose rows hold `width` elements (head_dim for K, the value row for V).
struct KvAddress {
  const ab_attention_args* a;
  const int32_t* table;
  int b, hk, width;
  size_t operator()(int t) const {
    const int d = width;
    if (a->page_size <= 0) return row_offset(b, hk, t, a->heads_kv, a->len_k, d);
    const int page = table[static_cast<size_t>(b) * a->max_pages_per_seq + t / a->page_size];
    return ((static_cast<size_t>(page) * a->heads_kv + hk) * a->page_size + t % a->page_size) * d;
  }
};

/// Row pointers of keys [k0, k0 + nk) in the kernel's storage type: the tensor
/// itself when DIRECT (head dim a multiple of 16), else zero-padded fp32 copies in
/// conv. Slots j >= nk point at a zero row so the 16-wide loops need no tail.
template <ab_dtype DT, bool DIRECT>
void block_rows(const void* base, const KvAddress& addr, int k0, int nk, int d, int dpad, float* conv,
                const float* zero, const void* (&rows)[kKeys]) {
  for (int j = 0; j < kKeys; ++j) {
    if (j >= nk) { rows[j] = zero; continue; }
    const size_t off = addr(k0 + j);
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

/// Partial results of one work item, in the shared partials buffer.
struct Partial {
  float* o;  // [rows][dpad], unnormalised
  float* m;  // [rows] running max (base 2)
  float* l;  // [rows] running sum
};

/// One work item: keys [c0, c1) of (b, hk) for all rows of the GQA group.
/// ST is the storage type the microkernels read (DT, or fp32 for padded copies).
/// dpad / dvpad: the key and value head dims rounded up to 16.
template <ab_dtype DT, bool DIRECT>
void decode_chunk(const ab_attention_args& a, const ValueSource& vs, int b, int hk, int c0, int c1, int dpad,
                  int dvpad, Partial out) {
  constexpr ab_dtype ST = DIRECT ? DT : AB_F32;
  const int d = a.head_dim, dv = dv_of(a), nv = dpad / 16, nvv = dvpad / 16;
  const int group = a.heads_q / a.heads_kv;
  const int lq = len_q_of(a, b), lk = len_k_of(a, b);
  const int rows = group * lq, rows4 = (rows + kDecodeRows - 1) / kDecodeRows * kDecodeRows;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  DecodeScratch& s = tls_decode;

  // Key range of query i is the same for every head of the group.
  int lo[16], hi[16], walk_lo = INT_MAX, walk_hi = INT_MIN, all_lo = 0, all_hi = INT_MAX;
  for (int i = 0; i < lq; ++i) {
    const KeyRange r = mask.keys_for(i, lq, lk);
    lo[i] = std::max(r.lo, c0);
    hi[i] = std::min(r.empty() ? r.lo : r.hi, c1);
    all_lo = std::max(all_lo, lo[i]);
    all_hi = std::min(all_hi, hi[i]);
    if (hi[i] > lo[i]) { walk_lo = std::min(walk_lo, lo[i]); walk_hi = std::max(walk_hi, hi[i]); }
  }
  for (int r = 0; r < rows; ++r) { out.m[r] = -INFINITY; out.l[r] = 0.0f; }
  std::fill(out.o, out.o + static_cast<size_t>(rows) * dvpad, 0.0f);
  if (walk_lo >= walk_hi) return;

  // Query rows (pre-scaled into base-2 logits), padded with zero rows to rows4.
  const size_t plane = static_cast<size_t>(rows4) * dpad;
  float* q = s.q.get(plane);
  std::fill(q, q + plane, 0.0f);
  const float qscale = a.scale * kLog2e;
  for (int r = 0; r < rows; ++r) {
    const int h = hk * group + r / lq, i = r % lq;
    float* qr = q + static_cast<size_t>(r) * dpad;
    load_row_f32(a.dtype, a.q, row_offset(b, h, i, a.heads_q, a.len_q, d), qr, d);
    for (int t = 0; t < d; ++t) qr[t] *= qscale;
  }
  const size_t oplane = static_cast<size_t>(rows4) * dvpad;
  float* o = s.o.get(oplane);
  std::fill(o, o + oplane, 0.0f);
  float* p = s.p.get(static_cast<size_t>(rows4) * kKeys);
  float* lsum = s.lsum.get(static_cast<size_t>(rows4) * kKeys);
  std::fill(lsum, lsum + static_cast<size_t>(rows4) * kKeys, 0.0f);
  float* m = s.m.get(rows4);
  std::fill(m, m + rows4, -INFINITY);
  float* alpha = s.alpha.get(rows4);
  float* zero = s.zero.get(std::max(dpad, dvpad));
  std::fill(zero, zero + std::max(dpad, dvpad), 0.0f);
  float* kconv = s.kt.get(static_cast<size_t>(kKeys) * dpad);
  float* vconv = s.vt.get(static_cast<size_t>(kKeys) * dvpad);
  const int32_t* table = host_ptr<const int32_t>(a.block_table);
  const KvAddress addr{&a, table, b, hk, d}, vaddr{&a, table, b, hk, vs.row};
  const float softcap2 = a.softcap > 0.0f ? a.softcap * kLog2e : 0.0f;
  const size_t esize = dtype_size(a.dtype);
  const int row_bytes = d * static_cast<int>(esize), vrow_bytes = dv * static_cast<int>(esize);

  for (int k0 = walk_lo; k0 < walk_hi; k0 += kKeys) {
    const int nk = std::min(kKeys, walk_hi - k0);
    const void* krows[kKeys];
    block_rows<DT, DIRECT>(a.k, addr, k0, nk, d, dpad, kconv, zero, krows);
    // Next block's raw rows, prefetched while this block computes.
    const char* knext[kKeys];
    const char* vnext[kKeys];
    for (int j = 0; j < kKeys; ++j) {
      const int t = k0 + kKeys + j;  // one block ahead: longer distances measured slower
      knext[j] = t < walk_hi ? static_cast<const char*>(static_cast<const void*>(a.k)) + addr(t) * esize : nullptr;
      vnext[j] = t < walk_hi ? static_cast<const char*>(vs.base) + vaddr(t) * esize : nullptr;
    }
    for (int r = 0; r < rows4; r += kDecodeRows)
      decode_scores<ST>(q + static_cast<size_t>(r) * dpad, dpad, krows, nv, p + r * kKeys,
                        r == 0 ? knext : nullptr, row_bytes);
    const bool need_mask = nk < kKeys || !(k0 >= all_lo && k0 + kKeys <= all_hi);
    for (int r = 0; r < rows; ++r)
      alpha[r] = decode_softmax_row(p + r * kKeys, lsum + r * kKeys, m[r], k0, nk, lo[r % lq], hi[r % lq],
                             need_mask, softcap2);
    for (int r = rows; r < rows4; ++r) alpha[r] = 0.0f;  // padding rows: keep zero
    const void* vrows[kKeys];
    block_rows<DT, DIRECT>(vs.base, vaddr, k0, nk, dv, dvpad, vconv, zero, vrows);
    for (int r = 0; r < rows4; r += kDecodeRows)
      decode_values<ST>(o + static_cast<size_t>(r) * dvpad, dvpad, alpha + r, p + r * kKeys, vrows, nk, nvv,
                        r == 0 ? vnext : nullptr, vrow_bytes);
  }
  std::copy(o, o + static_cast<size_t>(rows) * dvpad, out.o);
  for (int r = 0; r < rows; ++r) {
    out.m[r] = m[r];
    out.l[r] = v_reduce_add(v_load(lsum + r * kKeys));
  }
}

/// Log-sum-exp merge of the splits of (b, hk) into the output rows.
void merge_splits(const ab_attention_args& a, int b, int hk, const SplitPlan& plan, int dpad,
                  const float* part_o, const float* part_m, const float* part_l, int rows_max) {
  const int d = dv_of(a), group = a.heads_q / a.heads_kv, lq = len_q_of(a, b);
  const size_t item0 = (static_cast<size_t>(b) * a.heads_kv + hk) * plan.splits;
  thread_local std::vector<float> acc;
  acc.assign(d, 0.0f);
  for (int r = 0; r < group * lq; ++r) {
    const int h = hk * group + r / lq, i = r % lq;
    const size_t o_off = row_offset(b, h, i, a.heads_q, a.len_q, d);
    float mx = -INFINITY;
    for (int c = 0; c < plan.splits; ++c) mx = std::max(mx, part_m[(item0 + c) * rows_max + r]);
    if (mx == -INFINITY) {  // no visible key in any split
      store_zero_row(a.dtype, a.o, o_off, d);
      continue;
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    float l = 0.0f;
    for (int c = 0; c < plan.splits; ++c) {
      const size_t it = (item0 + c) * rows_max + r;
      if (part_m[it] == -INFINITY) continue;
      const float w = std::exp2(part_m[it] - mx);
      l += w * part_l[it];
      const float* o = part_o + it * dpad;
      for (int t = 0; t < d; ++t) acc[t] += w * o[t];
    }
    const float inv = 1.0f / l;
    for (int t = 0; t < d; ++t) acc[t] *= inv;
    store_row(a.dtype, a.o, o_off, acc.data(), d);
  }
}

template <ab_dtype DT>
void decode_all(const ab_attention_args& a, const ValueSource& vs) {
  const int dpad = (a.head_dim + 15) / 16 * 16, dvpad = (dv_of(a) + 15) / 16 * 16;
  const int rows_max = (a.heads_q / a.heads_kv) * a.len_q;
  const SplitPlan plan = plan_splits(a);
  const size_t items = static_cast<size_t>(a.batch) * a.heads_kv * plan.splits;
  // Partials: per item, rows_max accumulators of dvpad floats plus m and l.
  float* part = tls_partials.get(items * rows_max * (dvpad + 2));
  float* part_o = part;
  float* part_m = part_o + items * rows_max * dvpad;
  float* part_l = part_m + items * rows_max;
  tbb::parallel_for(tbb::blocked_range<size_t>(0, items, 1), [&](const tbb::blocked_range<size_t>& rg) {
    for (size_t it = rg.begin(); it != rg.end(); ++it) {
      const int c = static_cast<int>(it % plan.splits);
      const int bh = static_cast<int>(it / plan.splits);
      const int b = bh / a.heads_kv, hk = bh % a.heads_kv;
      const int lk = len_k_of(a, b);
      const int c0 = std::min(c * plan.chunk, lk), c1 = std::min(c0 + plan.chunk, lk);
      const Partial out{part_o + it * rows_max * dvpad, part_m + it * rows_max, part_l + it * rows_max};
      if (a.head_dim % 16 == 0 && dv_of(a) % 16 == 0) decode_chunk<DT, true>(a, vs, b, hk, c0, c1, dpad, dvpad, out);
      else decode_chunk<DT, false>(a, vs, b, hk, c0, c1, dpad, dvpad, out);
    }
  });
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
    merge_splits(a, bh / a.heads_kv, bh % a.heads_kv, plan, dvpad, part_o, part_m, part_l, rows_max);
  });
}

}  // namespace

void decode_attention_values(const ab_attention_args& a, const ValueSource& vs) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  switch (a.dtype) {
    case AB_F32: decode_all<AB_F32>(a, vs); break;
    case AB_BF16: decode_all<AB_BF16>(a, vs); break;
    case AB_F16: decode_all<AB_F16>(a, vs); break;
  }
}

void decode_attention(const ab_attention_args& a) { decode_attention_values(a, ValueSource{a.v, dv_of(a)}); }

AB_CPU_NS_END
