// Key ranges of one group of kQRows query rows under a mask hook, and the key walk they
// imply: shared by the flash forward and backward kernels (rows live in vector lanes, the
// per-lane bounds feed v_mask_rows).
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>

#include "attnbench/attention_hooks.h"
#include "flash_microkernel.h"

AB_CPU_NS_BEGIN

/// Key ranges of the rows of one query group, and the tile walk they imply.
struct GroupRanges {
  alignas(64) int32_t lo[kQRows];
  alignas(64) int32_t hi[kQRows];
  int walk_lo = INT_MAX, walk_hi = 0;  // union of the non-empty ranges
  int all_lo = 0, all_hi = INT_MAX;    // intersection: tiles inside need no mask
};

/// Ranges of rows [q0, q0 + nq) of a sequence of lq queries and lk keys.
inline GroupRanges group_ranges(const MaskHook& mask, int q0, int nq, int lq, int lk) {
  GroupRanges g;
  for (int i = 0; i < kQRows; ++i) {
    if (i >= nq) {  // padding lanes: never masked, their (finite) results are dropped
      g.lo[i] = INT_MIN;
      g.hi[i] = INT_MAX;
      continue;
    }
    const KeyRange r = mask.keys_for(q0 + i, lq, lk);
    g.lo[i] = r.lo;
    g.hi[i] = r.empty() ? r.lo : r.hi;
    g.all_lo = std::max(g.all_lo, g.lo[i]);
    g.all_hi = std::min(g.all_hi, g.hi[i]);
    if (!r.empty()) {
      g.walk_lo = std::min(g.walk_lo, r.lo);
      g.walk_hi = std::max(g.walk_hi, r.hi);
    }
  }
  return g;
}

AB_CPU_NS_END
