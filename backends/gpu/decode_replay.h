// Host replay of the decode kernel's loads (decode_attention.cuh): the element offsets
// the threads of one block read for one key tile, produced by the same decode_tiles.h
// functions the kernel calls, thread by thread and slot by slot. The CPU emulation
// stages its tiles through it and tests check its coverage and addresses. Host only.
#pragma once

#include "capabilities.h"
#include "decode_tiles.h"

namespace attnbench::gpu {

/// Calls visit(key, vec, offset) for every 16-byte load that the kDecodeWarps * warp_size
/// threads of block (b, hk) with key range [lo, hi) issue for key tile t: key is absolute,
/// vec the 16-byte vector of the row, offset its first element. Rows are looked up once
/// per key, as the kernel's sRow; the slot count comes from the kernel's DMAX.
template <class Kv, class Visit>
void replay_decode_tile(const Kv& kv, int b, int hk, int t, int lo, int hi, int head_dim, int elem_bytes,
                        int warp_size, Visit&& visit) {
  long long rows[kDecodeKeys];
  for (int j = 0; j < kDecodeKeys; ++j) rows[j] = decode_row_of(kv, b, hk, t * kDecodeKeys + j, lo, hi);
  const int threads = kDecodeWarps * warp_size, vpr = decode_vectors_per_row(head_dim, elem_bytes);
  const int slots = decode_slots(decode_vectors_per_row(simt_dmax(head_dim), elem_bytes), threads);
  for (int tid = 0; tid < threads; ++tid)
    for (int i = 0; i < slots; ++i) {
      const DecodeSlot s = decode_slot(tid, i, threads, vpr);
      if (s.key < 0 || rows[s.key] == kDecodeNoRow) continue;
      visit(t * kDecodeKeys + s.key, s.vec, decode_vec_offset(rows[s.key], s.vec, elem_bytes));
    }
}

}  // namespace attnbench::gpu
