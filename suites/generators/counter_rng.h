// Counter-based random numbers: element i of tensor t in case c under seed s is a
// pure function of (s, c, t, i), so every backend, thread count and shard sees
// identical inputs, and any element can be regenerated without the others.
#pragma once

#include <cmath>
#include <cstdint>

namespace attnbench::gen {

/// SplitMix64 finaliser: a bijective 64-bit mix with full avalanche.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// Key of one tensor stream: (seed, case hash, tensor id).
struct StreamKey {
  uint64_t seed;
  uint64_t case_hash;
  uint64_t tensor;

  /// 64 random bits for element `index`.
  uint64_t bits(uint64_t index) const {
    return mix64(mix64(mix64(seed ^ 0x5851f42d4c957f2dull) ^ case_hash) ^ (tensor * 0xd1b54a32d192ed03ull)
                 ^ mix64(index));
  }
  /// Uniform in [0, 1) with 53 bits.
  double uniform(uint64_t index) const { return static_cast<double>(bits(index) >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double uniform(uint64_t index, double lo, double hi) const { return lo + (hi - lo) * uniform(index); }
  /// Standard normal (Box-Muller on two derived counters).
  double normal(uint64_t index) const {
    const double u1 = (static_cast<double>(bits(2 * index) >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(bits(2 * index + 1) >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

/// FNV-1a hash of a string (case identity -> case_hash).
inline uint64_t hash_string(const char* s, uint64_t h = 0xcbf29ce484222325ull) {
  for (; *s; ++s) h = (h ^ static_cast<unsigned char>(*s)) * 0x100000001b3ull;
  return h;
}

}  // namespace attnbench::gen
