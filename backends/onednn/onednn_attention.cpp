// oneDNN attention: blocks of query rows of one KV head's group through matmul, masked
// fill, softmax and matmul (see onednn_attention.h).
#include "onednn_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "attnbench/attention_hooks.h"
#include "attnbench/dtype.h"

namespace attnbench::onednn {
namespace {

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

constexpr const char* kVariants[] = {"flash", "decode", nullptr};
constexpr int kMaxDecodeQueries = 16;       // the cpu backend's decode limit, so suites agree
constexpr size_t kBlockScoreBytes = 4u << 20;  // S of one block: L2-to-L3 sized
constexpr size_t kMaxCachedPrimitives = 2048;
enum Op { kQk = 0, kSoftmax = 1, kPv = 2 };

dt dnnl_type(ab_dtype t) { return t == AB_F32 ? dt::f32 : t == AB_BF16 ? dt::bf16 : dt::f16; }

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

bool is(const char* v, const char* name) { return v && std::strcmp(v, name) == 0; }

}  // namespace

/// One block: rows [r0, r0 + m) of each of nb query heads of one KV head's group, the
/// heads len_q (padded) rows apart. With nb = 1 the rows may run across heads (short
/// sequences: whole heads merged into one matrix); row r is query index r % len_q.
struct AttentionRunner::Block {
  const unsigned char *q, *k, *v;  // the block's first head's row 0, the KV head's key 0
  unsigned char* o;                // the block's first head's O row 0
  int nb, r0, m;
  int lq, lk;                      // actual lengths of this batch entry
};

const char* const* variant_names() { return kVariants; }

Check check_args(const char* variant, const ab_attention_args& a) {
  if (!is(variant, "flash") && !is(variant, "decode"))
    return unsupported(std::string("onednn backend has no variant '") + (variant ? variant : "(null)") +
                       "' (it runs flash and decode: matmul, softmax, matmul; variants take no options)");
  if (a.batch < 0 || a.len_q < 0 || a.len_k < 0) return invalid("batch, len_q and len_k must be >= 0");
  if (a.heads_q <= 0 || a.heads_kv <= 0 || a.heads_q % a.heads_kv != 0)
    return invalid("heads_q (" + std::to_string(a.heads_q) + ") must be a positive multiple of heads_kv (" +
                   std::to_string(a.heads_kv) + ")");
  if (a.head_dim <= 0 || a.head_dim_v < 0) return invalid("head_dim must be > 0 and head_dim_v >= 0");
  if (a.dtype != AB_F32 && a.dtype != AB_BF16 && a.dtype != AB_F16)
    return invalid("unknown dtype " + std::to_string(static_cast<int>(a.dtype)));
  if (!std::isfinite(a.scale)) return invalid("scale must be finite");
  if (!(a.softcap >= 0.0f) || !std::isfinite(a.softcap)) return invalid("softcap must be >= 0 and finite");
  for (const auto& [lens, padded, what] : {std::tuple{a.seq_len_q, a.len_q, "seq_len_q"},
                                          std::tuple{a.seq_len_k, a.len_k, "seq_len_k"}})
    for (int b = 0; lens && b < a.batch; ++b)
      if (lens[b] < 0 || lens[b] > padded)
        return invalid(std::string(what) + "[" + std::to_string(b) + "]=" + std::to_string(lens[b]) +
                       " is outside [0, " + std::to_string(padded) + "]");
  if (a.page_size > 0)
    return unsupported("onednn reads contiguous KV only: a framework without a paged kernel gathers the "
                       "pages first (no paged KV)");
  if (a.lse)
    return unsupported("onednn writes no lse: the softmax primitive returns probabilities only");
  if (is(variant, "decode") && a.len_q > kMaxDecodeQueries)
    return unsupported("decode handles len_q <= " + std::to_string(kMaxDecodeQueries) + " (got " +
                       std::to_string(a.len_q) + "); use flash for prefill");
  return {};
}

Check AttentionRunner::dtype_supported(ab_dtype t) {
  if (auto it = dtype_probe_.find(t); it != dtype_probe_.end()) return it->second;
  Check c;
  try {
    primitives(BlockShape{t, 2, 16, 16, 16, 16, 16 * 16, 16 * 16, 1.0f, 0.0f});
  } catch (const dnnl::error& e) {
    c = unsupported(std::string("oneDNN has no ") + dtype_name(t) + " matmul/softmax on this CPU (" + e.what() + ")");
  }
  return dtype_probe_[t] = c;
}

namespace {

/// Memory descriptors of one block (see BlockShape): Q, K^T, S, P, V, O.
struct BlockDescs {
  dnnl::memory::desc q, kt, s, p, v, o;
};

BlockDescs block_descs(const AttentionRunner::BlockShape& b) {
  const dt t = dnnl_type(b.dtype);
  BlockDescs m;
  // Query heads are the batch axis; K and V are broadcast over it (one KV head per block).
  m.q = dnnl::memory::desc(dims{b.nb, b.m, b.d}, t, dims{b.q_batch_stride, b.d, 1});
  // K^T is K read column-wise, so no transpose is materialised.
  m.kt = dnnl::memory::desc(dims{1, b.d, b.n}, t, dims{b.n * b.d, 1, b.d});
  m.s = dnnl::memory::desc(dims{b.nb, b.m, b.n}, dt::f32, dims{b.m * b.n, b.n, 1});
  m.p = dnnl::memory::desc(dims{b.nb, b.m, b.n}, t, dims{b.m * b.n, b.n, 1});
  m.v = dnnl::memory::desc(dims{1, b.n, b.dv}, t, dims{b.n * b.dv, b.dv, 1});
  m.o = dnnl::memory::desc(dims{b.nb, b.m, b.dv}, t, dims{b.o_batch_stride, b.dv, 1});
  return m;
}

}  // namespace

const AttentionRunner::Primitives& AttentionRunner::primitives(const BlockShape& b) {
  const Key key{b.dtype, b.nb, b.m, b.n, b.d, b.dv, b.q_batch_stride, b.o_batch_stride,
                float_bits(b.scale), float_bits(b.softcap)};
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  // Each distinct block shape adds three primitives; a long sweep of shapes must not grow
  // without bound (oneDNN keeps its own cache of the compiled kernels anyway).
  if (cache_.size() >= kMaxCachedPrimitives) cache_.clear();
  const BlockDescs m = block_descs(b);
  dnnl::primitive_attr attr;
  if (b.softcap > 0.0f) {
    // logits = softcap * tanh(scale * s / softcap): the output scale, then two post-ops.
    attr.set_output_scales(0, {b.scale / b.softcap});
    dnnl::post_ops po;
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_tanh, 0.0f, 0.0f);
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, b.softcap, 0.0f);
    attr.set_post_ops(po);
  } else {
    attr.set_output_scales(0, {b.scale});
  }
  Primitives p;
  p.qk = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(m.q, m.kt, m.s), attr, eng_));
  // fp32 in place; 16-bit types write P in the storage type, as a framework's autocast does.
  p.softmax = dnnl::softmax_v2_forward(dnnl::softmax_v2_forward::primitive_desc(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, m.s,
                                     m.p, 2),
      eng_));
  p.pv = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(m.p, m.v, m.o), eng_));
  return cache_.emplace(key, p).first->second;
}

void AttentionRunner::run_block(const ab_attention_args& a, const Block& blk) {
  const int d = a.head_dim, dv = a.head_dim_v ? a.head_dim_v : a.head_dim;
  const size_t es = dtype_size(a.dtype);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const int m = blk.m;
  lo_.resize(m);
  hi_.resize(m);
  int klo = blk.lk, khi = 0;
  for (int r = 0; r < m; ++r) {
    const KeyRange kr = mask.keys_for((blk.r0 + r) % a.len_q, blk.lq, blk.lk);
    lo_[r] = kr.lo;
    hi_[r] = kr.hi;
    if (!kr.empty()) { klo = std::min(klo, kr.lo); khi = std::max(khi, kr.hi); }
  }
  const size_t o_batch = static_cast<size_t>(a.len_q) * dv * es;  // next query head's O
  unsigned char* o = blk.o + static_cast<size_t>(blk.r0) * dv * es;
  auto zero_row = [&](int h, int r) { std::memset(o + h * o_batch + static_cast<size_t>(r) * dv * es, 0, dv * es); };
  if (khi <= klo) {  // no row of the block sees a key: O = 0
    for (int h = 0; h < blk.nb; ++h)
      for (int r = 0; r < m; ++r) zero_row(h, r);
    return;
  }
  const BlockShape shape{a.dtype, blk.nb, m, khi - klo, d, dv, static_cast<int64_t>(a.len_q) * d,
                         static_cast<int64_t>(a.len_q) * dv, a.scale, a.softcap};
  const int n = static_cast<int>(shape.n);
  const Primitives& prim = primitives(shape);
  const BlockDescs md = block_descs(shape);
  float* s = scores_.data();
  dnnl::memory qm(md.q, eng_, const_cast<unsigned char*>(blk.q) + static_cast<size_t>(blk.r0) * d * es);
  dnnl::memory km(md.kt, eng_, const_cast<unsigned char*>(blk.k) + static_cast<size_t>(klo) * d * es);
  dnnl::memory sm(md.s, eng_, s);
  prim.qk.execute(strm_, {{DNNL_ARG_SRC, qm}, {DNNL_ARG_WEIGHTS, km}, {DNNL_ARG_DST, sm}});
  strm_.wait();

  // Masked fill: keys of the block a row does not see get -inf (a row that sees none gets
  // zeros, so softmax stays finite; its output row is zeroed below). Every query head of
  // the block has the same rows, so the same mask.
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  bool any_empty = false;
  for (int h = 0; h < blk.nb; ++h)
    for (int r = 0; r < m; ++r) {
      float* row = s + (static_cast<size_t>(h) * m + r) * n;
      if (hi_[r] <= lo_[r]) {
        std::fill(row, row + n, 0.0f);
        any_empty = true;
        continue;
      }
      std::fill(row, row + (lo_[r] - klo), kNegInf);
      std::fill(row + (hi_[r] - klo), row + n, kNegInf);
    }

  dnnl::memory pm(md.p, eng_, a.dtype != AB_F32 ? static_cast<void*>(probs16_.data()) : static_cast<void*>(s));
  prim.softmax.execute(strm_, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_DST, pm}});
  dnnl::memory vm(md.v, eng_, const_cast<unsigned char*>(blk.v) + static_cast<size_t>(klo) * dv * es);
  dnnl::memory om(md.o, eng_, o);
  prim.pv.execute(strm_, {{DNNL_ARG_SRC, pm}, {DNNL_ARG_WEIGHTS, vm}, {DNNL_ARG_DST, om}});
  strm_.wait();
  if (any_empty)
    for (int h = 0; h < blk.nb; ++h)
      for (int r = 0; r < m; ++r)
        if (hi_[r] <= lo_[r]) zero_row(h, r);
}

Check AttentionRunner::run(const ab_attention_args& a, int block_rows) {
  if (a.batch == 0 || a.len_q == 0) return {};
  const bool has_kv = a.len_k > 0;
  if (!a.q || !a.o || (has_kv && (!a.k || !a.v))) return invalid("q, k, v and o buffers are required");
  const int d = a.head_dim, dv = a.head_dim_v ? a.head_dim_v : a.head_dim;
  const size_t es = dtype_size(a.dtype);
  const int group = a.heads_q / a.heads_kv;
  const int lk_alloc = std::max(a.len_k, 1);
  // Rows per block: S of the group's heads about kBlockScoreBytes.
  int rows = block_rows > 0 ? block_rows
                            : static_cast<int>(std::clamp<size_t>(kBlockScoreBytes / (4u * lk_alloc * group), 32, 1024));
  // Short query sequences (decode, small prefill): the group's heads merged into one
  // matrix, so one GEMM of group * len_q rows makes the pass over K and V.
  const bool merge_heads = a.len_q < rows;
  const int merged_rows = std::max(1, rows / a.len_q) * a.len_q;
  const size_t block_elems = static_cast<size_t>(merge_heads ? merged_rows : rows * group) * lk_alloc;
  if (scores_.size() < block_elems) scores_.resize(block_elems);
  if (a.dtype != AB_F32 && probs16_.size() < block_elems) probs16_.resize(block_elems);

  const auto* q = reinterpret_cast<const unsigned char*>(a.q);
  const auto* k = reinterpret_cast<const unsigned char*>(a.k);
  const auto* v = reinterpret_cast<const unsigned char*>(a.v);
  auto* o = reinterpret_cast<unsigned char*>(a.o);
  for (int b = 0; b < a.batch; ++b) {
    const int lq = a.seq_len_q ? a.seq_len_q[b] : a.len_q;
    const int lk = a.seq_len_k ? a.seq_len_k[b] : a.len_k;
    for (int hk = 0; hk < a.heads_kv; ++hk) {
      const size_t q_row0 = (static_cast<size_t>(b) * a.heads_q + static_cast<size_t>(hk) * group) * a.len_q;
      const size_t kv_row0 = (static_cast<size_t>(b) * a.heads_kv + hk) * a.len_k;
      Block blk{q + q_row0 * d * es, k ? k + kv_row0 * d * es : nullptr, v ? v + kv_row0 * dv * es : nullptr,
                o + q_row0 * dv * es, 1, 0, 0, lq, lk};
      if (merge_heads && lq == a.len_q) {
        // Every row of every head is valid, and the group's rows are contiguous.
        for (int r0 = 0; r0 < group * a.len_q; r0 += merged_rows) {
          blk.r0 = r0;
          blk.m = std::min(group * a.len_q - r0, merged_rows);
          run_block(a, blk);
        }
        continue;
      }
      // The group's heads as the batch axis over rows [i0, i0 + m); varlen padding rows
      // (i >= lq) are never touched.
      blk.nb = group;
      for (int i0 = 0; i0 < lq; i0 += rows) {
        blk.r0 = i0;
        blk.m = std::min(lq - i0, rows);
        run_block(a, blk);
      }
    }
  }
  return {};
}

}  // namespace attnbench::onednn
