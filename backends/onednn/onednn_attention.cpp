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

/// Row-major [rows, cols] descriptor with a leading dimension (elements between rows).
dnnl::memory::desc row_major(int64_t rows, int64_t cols, dt type, int64_t ld) {
  return dnnl::memory::desc(dims{rows, cols}, type, dims{ld, 1});
}

bool is(const char* v, const char* name) { return v && std::strcmp(v, name) == 0; }

}  // namespace

/// One block of query rows: rows [r0, r1) of the group of KV head hk in batch b, where
/// row r is query head hk * group + r / len_q (padded) and query index r % len_q.
struct AttentionRunner::Block {
  const unsigned char *q, *k, *v;  // group's first Q row, head's first K and V rows
  unsigned char* o;                // group's first O row
  int r0, r1;
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
    qk_matmul(t, 16, 16, 16, 1.0f, 0.0f);
    softmax(t, 16, 16);
    pv_matmul(t, 16, 16, 16);
  } catch (const dnnl::error& e) {
    c = unsupported(std::string("oneDNN has no ") + dtype_name(t) + " matmul/softmax on this CPU (" + e.what() + ")");
  }
  return dtype_probe_[t] = c;
}

void AttentionRunner::evict_if_full() {
  // Each distinct block shape adds three primitives; a long sweep of shapes must not grow
  // without bound (oneDNN keeps its own cache of the compiled kernels anyway).
  if (cache_.size() >= kMaxCachedPrimitives) cache_.clear();
}

dnnl::primitive AttentionRunner::qk_matmul(ab_dtype t, int64_t m, int64_t n, int64_t k, float scale,
                                               float softcap) {
  const Key key{kQk, t, m, n, k, float_bits(scale), float_bits(softcap)};
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  evict_if_full();
  // K^T is K read column-wise: [k, n] with strides {1, k}, so no transpose is materialised.
  const auto src = row_major(m, k, dnnl_type(t), k);
  const auto wei = dnnl::memory::desc(dims{k, n}, dnnl_type(t), dims{1, k});
  const auto dst = row_major(m, n, dt::f32, n);
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  if (softcap > 0.0f) {
    // logits = softcap * tanh(scale * s / softcap): the output scale, then two post-ops.
    attr.set_output_scales(0, {scale / softcap});
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_tanh, 0.0f, 0.0f);
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, softcap, 0.0f);
    attr.set_post_ops(po);
  } else {
    attr.set_output_scales(0, {scale});
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, eng_);
  return cache_.emplace(key, dnnl::matmul(pd)).first->second;
}

dnnl::primitive AttentionRunner::softmax(ab_dtype p_type, int64_t m, int64_t n) {
  const Key key{kSoftmax, p_type, m, n, 0, 0, 0};
  if (auto it = cache_.find(key); it != cache_.end())
    return it->second;
  evict_if_full();
  // fp32 in place; 16-bit types write P in the storage type, as a framework's autocast does.
  const auto src = row_major(m, n, dt::f32, n), dst = row_major(m, n, dnnl_type(p_type), n);
  const dnnl::softmax_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate,
                                         src, dst, 1);
  const dnnl::softmax_v2_forward::primitive_desc pd(d, eng_);
  return cache_.emplace(key, dnnl::softmax_v2_forward(pd)).first->second;
}

dnnl::primitive AttentionRunner::pv_matmul(ab_dtype t, int64_t m, int64_t n, int64_t dv) {
  const Key key{kPv, t, m, n, dv, 0, 0};
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  evict_if_full();
  const auto src = row_major(m, n, dnnl_type(t), n);
  const auto wei = row_major(n, dv, dnnl_type(t), dv);
  const auto dst = row_major(m, dv, dnnl_type(t), dv);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), eng_);
  return cache_.emplace(key, dnnl::matmul(pd)).first->second;
}

void AttentionRunner::run_block(const ab_attention_args& a, const Block& blk) {
  const int d = a.head_dim, dv = a.head_dim_v ? a.head_dim_v : a.head_dim;
  const size_t es = dtype_size(a.dtype);
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const int m = blk.r1 - blk.r0;
  lo_.resize(m);
  hi_.resize(m);
  int klo = blk.lk, khi = 0;
  for (int r = 0; r < m; ++r) {
    const KeyRange kr = mask.keys_for((blk.r0 + r) % a.len_q, blk.lq, blk.lk);
    lo_[r] = kr.lo;
    hi_[r] = kr.hi;
    if (!kr.empty()) { klo = std::min(klo, kr.lo); khi = std::max(khi, kr.hi); }
  }
  unsigned char* o = blk.o + static_cast<size_t>(blk.r0) * dv * es;
  if (khi <= klo) {  // no row of the block sees a key: O = 0
    std::memset(o, 0, static_cast<size_t>(m) * dv * es);
    return;
  }
  const int n = khi - klo;
  float* s = scores_.data();

  const dnnl::primitive qk = qk_matmul(a.dtype, m, n, d, a.scale, a.softcap);
  const dnnl::memory::desc q_md = row_major(m, d, dnnl_type(a.dtype), d);
  const dnnl::memory::desc k_md(dims{d, n}, dnnl_type(a.dtype), dims{1, d});
  const dnnl::memory::desc s_md = row_major(m, n, dt::f32, n);
  dnnl::memory qm(q_md, eng_, const_cast<unsigned char*>(blk.q) + static_cast<size_t>(blk.r0) * d * es);
  dnnl::memory km(k_md, eng_, const_cast<unsigned char*>(blk.k) + static_cast<size_t>(klo) * d * es);
  dnnl::memory sm(s_md, eng_, s);
  qk.execute(strm_, {{DNNL_ARG_SRC, qm}, {DNNL_ARG_WEIGHTS, km}, {DNNL_ARG_DST, sm}});
  strm_.wait();

  // Masked fill: keys of the block a row does not see get -inf (a row that sees none gets
  // zeros, so softmax stays finite; its output row is zeroed below).
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  bool any_empty = false;
  for (int r = 0; r < m; ++r) {
    float* row = s + static_cast<size_t>(r) * n;
    if (hi_[r] <= lo_[r]) {
      std::fill(row, row + n, 0.0f);
      any_empty = true;
      continue;
    }
    std::fill(row, row + (lo_[r] - klo), kNegInf);
    std::fill(row + (hi_[r] - klo), row + n, kNegInf);
  }

  const bool p16 = a.dtype != AB_F32;
  dnnl::memory pm(row_major(m, n, dnnl_type(a.dtype), n), eng_,
                  p16 ? static_cast<void*>(probs16_.data()) : static_cast<void*>(s));
  softmax(a.dtype, m, n).execute(strm_, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_DST, pm}});

  const dnnl::primitive pv = pv_matmul(a.dtype, m, n, dv);
  dnnl::memory vm(row_major(n, dv, dnnl_type(a.dtype), dv), eng_,
                  const_cast<unsigned char*>(blk.v) + static_cast<size_t>(klo) * dv * es);
  dnnl::memory om(row_major(m, dv, dnnl_type(a.dtype), dv), eng_, o);
  pv.execute(strm_, {{DNNL_ARG_SRC, pm}, {DNNL_ARG_WEIGHTS, vm}, {DNNL_ARG_DST, om}});
  strm_.wait();
  if (any_empty)
    for (int r = 0; r < m; ++r)
      if (hi_[r] <= lo_[r]) std::memset(o + static_cast<size_t>(r) * dv * es, 0, static_cast<size_t>(dv) * es);
}

Check AttentionRunner::run(const ab_attention_args& a, int block_rows) {
  if (a.batch == 0 || a.len_q == 0) return {};
  const bool has_kv = a.len_k > 0;
  if (!a.q || !a.o || (has_kv && (!a.k || !a.v))) return invalid("q, k, v and o buffers are required");
  const int d = a.head_dim, dv = a.head_dim_v ? a.head_dim_v : a.head_dim;
  const size_t es = dtype_size(a.dtype);
  const int group = a.heads_q / a.heads_kv;
  const int lk_alloc = std::max(a.len_k, 1);
  int rows = block_rows > 0 ? block_rows
                            : static_cast<int>(std::clamp<size_t>(kBlockScoreBytes / (4u * lk_alloc), 64, 1024));
  // Short query sequences (decode, small prefill): whole heads per block, so the group's
  // rows share one pass over K and V.
  const bool merge_heads = a.len_q < rows;
  if (merge_heads) rows = std::max(1, rows / a.len_q) * a.len_q;
  const size_t block_elems = static_cast<size_t>(rows) * lk_alloc;
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
                o + q_row0 * dv * es, 0, 0, lq, lk};
      if (merge_heads && lq == a.len_q) {
        // The group's rows are contiguous: every row of every head is valid.
        for (int r0 = 0; r0 < group * a.len_q; r0 += rows) {
          blk.r0 = r0;
          blk.r1 = std::min(group * a.len_q, r0 + rows);
          run_block(a, blk);
        }
        continue;
      }
      for (int j = 0; j < group; ++j)  // varlen padding rows (i >= lq) stay untouched
        for (int i0 = 0; i0 < lq; i0 += rows) {
          blk.r0 = j * a.len_q + i0;
          blk.r1 = j * a.len_q + std::min(lq, i0 + rows);
          run_block(a, blk);
        }
    }
  }
  return {};
}

}  // namespace attnbench::onednn
