// Where a key/value row lives in memory, for contiguous and paged KV caches.
// Shared by the device kernels and the CPU emulation (host/device, C++17).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "attnbench/device_compat.h"
#include "attnbench/plugin_abi.h"

namespace attnbench::gpu {

/// Contiguous KV: [batch, heads_kv, len_k, head_dim].
struct ContiguousKv {
  int heads_kv, len_k, head_dim;

  /// Element offset of key `j` of (batch b, kv head hk).
  AB_INLINE size_t row_offset(int b, int hk, int j) const {
    return ((static_cast<size_t>(b) * heads_kv + hk) * len_k + j) * head_dim;
  }
};

/// Paged KV: a page pool plus a block table int32 [batch, max_pages_per_seq] mapping
/// logical page -> pool page. Pool layouts (ab_kv_layout in plugin_abi.h):
///   AB_KV_HND (0): [num_pages, heads_kv, page_size, head_dim], FlashInfer's "HND"
///   AB_KV_NHD (1): [num_pages, page_size, heads_kv, head_dim], vLLM's and FA2's
///                  layout (FlashInfer's "NHD")
struct PagedKv {
  int heads_kv, page_size, head_dim, max_pages_per_seq;
  const int32_t* block_table;
  int layout = AB_KV_HND;  // ab_kv_layout

  /// Element offset of (slot, kv head hk) inside pool page `page`.
  AB_INLINE size_t page_offset(int page, int hk, int slot) const {
    const size_t p = static_cast<size_t>(page);
    return layout == AB_KV_NHD ? ((p * page_size + slot) * heads_kv + hk) * head_dim
                               : ((p * heads_kv + hk) * page_size + slot) * head_dim;
  }

  /// Element offset of logical key `j` of (batch b, kv head hk): the page comes from
  /// the block table, the slot within the page from j % page_size.
  AB_INLINE size_t row_offset(int b, int hk, int j) const {
    const int logical_page = j / page_size;
    const int slot = j - logical_page * page_size;
    const int page = block_table[static_cast<size_t>(b) * max_pages_per_seq + logical_page];
    return page_offset(page, hk, slot);
  }
};

/// Offset of query/output row i of (batch b, query head h) in [batch, heads_q, len_q, d].
AB_INLINE size_t q_row_offset(int b, int h, int i, int heads_q, int len_q, int head_dim) {
  return ((static_cast<size_t>(b) * heads_q + h) * len_q + i) * head_dim;
}

}  // namespace attnbench::gpu
