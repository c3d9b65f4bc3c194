// Per-thread scratch memory of the KV kernels. Online methods (h2o online, tova) call a
// primitive thousands of times on small inputs, so buffers up to kReuseBytes are kept
// by each thread and reused (no allocation, no page faults per call); larger requests,
// made once per layer by the heavy calls, get their own allocation and are freed after.
#pragma once

#include <cstddef>
#include <vector>

namespace attnbench::cpu::kv {

inline constexpr size_t kReuseBytes = size_t(8) << 20;

/// n elements from `keep` (this thread's reused vector) or, when large, from `own`.
/// Contents are unspecified.
template <class T>
inline T* scratch(std::vector<T>& keep, std::vector<T>& own, size_t n) {
  if (n * sizeof(T) <= kReuseBytes) {
    if (keep.size() < n) keep.resize(n);
    return keep.data();
  }
  own.resize(n);
  return own.data();
}

}  // namespace attnbench::cpu::kv
