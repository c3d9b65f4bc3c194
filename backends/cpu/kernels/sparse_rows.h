// The block-sparse attention kernel shared by the static patterns (sliding_window,
// neighborhood, power, strided_heads) and the routing variants (block_topk, hip,
// flexprefill): a block of up to 32 query rows of one (batch, head), each with its own
// sorted list of keys, computed over the union of the lists in tiles on the same
// microkernels as flash (S^T = K Q^T, online softmax per row masked by its own list,
// O^T += V^T P^T). Counts the pairs it weights (pair_count.h).
#pragma once

#include <vector>

#include "attnbench/attention_hooks.h"
#include "attnbench/plugin_abi.h"
#include "isa_namespace.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN

/// Query rows per block: the 32 lanes of the flash microkernels.
inline constexpr int kSparseRows = 32;

/// Per-thread buffers of attend_row_lists; `ranges` is its input.
struct SparseRows {
  /// Keys of each row as ascending, disjoint ranges within its visible range (windows
  /// and kept blocks are a few ranges each).
  std::vector<KeyRange> ranges[kSparseRows];
  std::vector<KeyRange> uni;      ///< union of the rows' keys
  std::vector<uint64_t> bits;     ///< bitmap the union is built in
  std::vector<uint32_t> rows_of;  ///< per key of the union (or of its span): which rows keep it
  std::vector<int> keys;  ///< scratch: a caller's key list (ranges_of_keys) or packed keys (key_of)
  ScratchF32 qt, k, v, st, ot;
};

/// `keys` (ascending) as ranges of consecutive keys.
void ranges_of_keys(const std::vector<int>& keys, std::vector<KeyRange>& out);

/// This thread's buffers (out of line: a TLS access from a shared library is a call).
SparseRows& sparse_rows_scratch();

/// Optional inputs of attend_row_lists beyond the rows' ranges.
struct RowListExtras {
  const int* key_of = nullptr;         ///< ranges are positions in this key list (packed keys)
  const int* row_of = nullptr;         ///< row r is query row row_of[r] instead of i0 + r * step
  const float* log2_weight = nullptr;  ///< per position: log2 of the key's weight (sampled keys
                                       ///< standing for several), added to every row's logit
  const float* k_rows = nullptr;       ///< K and V rows by position (fp32, head_dim apart), read
  const float* v_rows = nullptr;       ///< instead of a's tensors (keys packed once, used by many calls)
};

/// Rows i0, i0 + step, ... (`rows` of them, at most kSparseRows, all < len_q) of query
/// head h of batch b attend exactly the keys of s.ranges[0 .. rows): exact softmax over
/// each row's keys (logits with a's scale and softcap), written to a.o (a row with an empty
/// list gets zeros). Q, K and V are read from a in any dtype. `x` may name the keys through
/// a packed list, the rows explicitly, and weights per key (see RowListExtras).
void attend_row_lists(const ab_attention_args& a, int b, int h, int i0, int step, int rows, SparseRows& s,
                      const RowListExtras& x = {});

AB_CPU_NS_END
