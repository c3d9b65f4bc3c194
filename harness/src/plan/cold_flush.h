// --cold: how much a case writes to evict the caches before each timed call, and how
// many timed calls a repetition makes, so the case stays within its time limit.
#pragma once

#include <cstdint>

#include "attnbench/host_cache.h"
#include "attnbench/plugin_abi.h"
#include "case_spec.h"

namespace attnbench {

/// Timed calls per repetition of a --cold case at most: each call pays a flush of twice
/// the last-level cache (hundreds of MB on a large CPU), so min_time of kernel time is
/// not reached with thousands of tiny calls.
inline constexpr int kMaxColdCallsPerRepetition = 10;

/// Bytes a --cold case writes before each timed call: the spec's cold_bytes, else twice
/// the cache the backend declared (peaks.cache_bytes), else twice the host's last-level
/// cache; 0 for a warm case (or a cold one whose cache size nothing knows).
inline uint64_t cold_flush_bytes(const CaseSpec& spec, const ab_peaks& peaks) {
  if (!spec.cold) return 0;
  if (spec.cold_bytes > 0) return spec.cold_bytes;
  const double cache = peaks.cache_bytes > 0 ? peaks.cache_bytes : static_cast<double>(host_last_level_cache_bytes());
  return static_cast<uint64_t>(2 * cache);
}

}  // namespace attnbench
