// The (query, key) pairs a sparse or selection kernel weights in its softmax, counted as
// it runs, so the harness gets the attended fraction of every case (call_stats), not
// only where its one-hot probe fits a time budget. Exact kernels do not count.
// Level-independent: declared here, defined once in variant_dispatch.cpp (baseline), so
// no ISA level's copy of an inline function is shared (see isa_namespace.h).
#pragma once

#include <cstdint>

namespace attnbench::cpu {

/// What one run_variant call counted.
struct PairCount {
  bool counted = false;  ///< the kernel counts its pairs (sparse and selection variants)
  uint64_t pairs = 0;    ///< pairs weighted, summed over batch and query heads
};

/// Adds `n` attended pairs to the running call's count (thread-safe; kernels call it
/// once per query row or block, not per pair).
void count_pairs(uint64_t n);

/// What the last run_variant counted (run_variant resets it first).
PairCount last_pair_count();

/// Clears the count; run_variant calls it before each kernel.
void reset_pair_count();

}  // namespace attnbench::cpu
