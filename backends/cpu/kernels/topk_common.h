// Shared pieces of the selection-based variants (block_topk, topk_decode, hyper):
// integer option parsing with reasons, fp32 views of K and V, and exact softmax
// attention of one query row over a list of key ranges or key indices.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "extra_variants.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace topk {

/// One integer option: name, default and inclusive range.
struct IntOption {
  const char* name;
  int fallback;
  int lo;
  int hi;
};

/// Parses `options` against `spec` into `values` (same order as spec). Refuses unknown
/// keys, non-integers and out-of-range values with AB_UNSUPPORTED naming `variant`.
Check parse_int_options(const char* variant, const VariantOptions& options,
                        std::initializer_list<IntOption> spec, int* values);

/// K and V as fp32 [batch, heads_kv, len_k, d]: the buffers themselves for fp32
/// storage, converted copies otherwise.
class KvF32 {
 public:
  /// Views (fp32) or converts (bf16/fp16, in parallel) K and V of `a`.
  explicit KvF32(const ab_attention_args& a);
  /// Key row t of KV head h of batch b.
  const float* k(int b, int h, int t) const { return k_ + offset(b, h, t); }
  /// Value row t of KV head h of batch b.
  const float* v(int b, int h, int t) const { return v_ + offset(b, h, t); }

 private:
  size_t offset(int b, int h, int t) const { return row_offset(b, h, t, heads_kv_, len_k_, d_); }
  int heads_kv_, len_k_, d_;
  std::vector<float> k_copy_, v_copy_;
  const float* k_ = nullptr;
  const float* v_ = nullptr;
};

/// Indices of the k largest of scores[0..n) (ties: lower index first), in ascending
/// index order; all n indices when k >= n.
std::vector<int> select_top_k(const float* scores, int n, int k);

/// Dot product of two fp32 rows of length d.
float dot(const float* x, const float* y, int d);

/// Exact softmax attention of query row `q` over the keys of `ranges` (disjoint,
/// any order) of KV head (b, h): logits = LogitsHook(scale, softcap)(q . k), output
/// written to `out` (d floats). Zeros when the ranges hold no key. `scratch` is reused.
void attend_ranges(const float* q, const KvF32& kv, int b, int h, int d, const LogitsHook& logits,
                   const std::vector<KeyRange>& ranges, std::vector<float>& scratch, float* out);

/// Same over an explicit list of key indices.
void attend_indices(const float* q, const KvF32& kv, int b, int h, int d, const LogitsHook& logits,
                    const std::vector<int>& keys, std::vector<float>& scratch, float* out);

/// Floor of x / y for y > 0 (query blocks may start at negative key positions).
int floor_div(long long x, int y);

/// Key blocks (of `block` keys) overlapping [r.lo, r.hi), except `local`.
std::vector<int> candidates_of(KeyRange r, int block, int local);

/// The kept key blocks intersected with one row's visible range.
std::vector<KeyRange> kept_ranges(const std::vector<int>& kept, int block, KeyRange r);

/// One query block of one (batch, head), aligned with the key blocks under the causal
/// bottom-right alignment: rows [r0, r1) whose positions fall in key block `local`.
struct QueryBlock {
  int b, h, hk;       // batch, query head, its KV head
  int lq, lk;         // lengths of this sequence
  int r0, r1;         // query rows of the block
  int local;          // the diagonal key block (clamped to the sequence)
  int d;
  KeyRange visible;   // union of the rows' visible key ranges (empty: lo >= hi)
  std::vector<float> q;     // fp32 queries, (r1 - r0) x d
  std::vector<float> mean;  // mean of the block's queries
  /// fp32 query of row i (r0 <= i < r1).
  const float* row(int i) const { return q.data() + static_cast<size_t>(i - r0) * d; }
};

/// Key blocks one query block keeps (indices of blocks of `block` keys).
using BlockRouter = std::function<std::vector<int>(const QueryBlock&)>;
/// Key blocks one row keeps, given its visible range (per-query routing).
using RowRouter = std::function<std::vector<int>(const QueryBlock&, int row, KeyRange visible)>;

/// The block-sparse driver of the routing variants (block_topk, hip, flexprefill): for
/// every (batch, head) and aligned query block, asks `route_block` (or `route_row`, when
/// given, once per row) which key blocks to keep, then writes each row's exact softmax
/// attention over the kept blocks within its visible range (sparse_rows.h: the flash
/// microkernels over the kept keys, 32 rows at a time).
void attend_routed_blocks(const ab_attention_args& a, int block, const BlockRouter& route_block,
                          const RowRouter& route_row = {});

}  // namespace topk
AB_CPU_NS_END
