// Where a key/value row lives in memory, for contiguous and paged KV caches.
// Shared by the device kernels and the CPU emulation (host/device, C++17).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "attnbench/device_compat.h"

namespace attnbench::gpu {

/// Contiguous KV: [batch, heads_kv, len_k, head_dim].
struct ContiguousKv {
  int heads_kv, len_k, head_dim;

  /// Element offset of key `j` of (batch b, kv head hk).
  AB_INLINE size_t row_offset(int b, int hk, int j) const {
    return ((static_cast<size_t>(b) * heads_kv + hk) * len_k + j) * head_dim;
  }
};

/// Paged KV: a pool [num_pages, heads_kv, page_size, head_dim] plus a block table
/// int32 [batch, max_pages_per_seq] mapping logical page -> pool page (vLLM layout).
struct PagedKv {
  int heads_kv, page_size, head_dim, max_pages_per_seq;
  const int32_t* block_table;

  /// Element offset of logical key `j` of (batch b, kv head hk): the page comes from
  /// the block table, the slot within the page from j % page_size.
  AB_INLINE size_t row_offset(int b, int hk, int j) const {
    const int logical_page = j / page_size;
    const int slot = j - logical_page * page_size;
    const int page = block_table[static_cast<size_t>(b) * max_pages_per_seq + logical_page];
    return ((static_cast<size_t>(page) * heads_kv + hk) * page_size + slot) * head_dim;
  }
};

/// Offset of query/output row i of (batch b, query head h) in [batch, heads_q, len_q, d].
AB_INLINE size_t q_row_offset(int b, int h, int i, int heads_q, int len_q, int head_dim) {
  return ((static_cast<size_t>(b) * heads_q + h) * len_q + i) * head_dim;
}

}  // namespace attnbench::gpu
