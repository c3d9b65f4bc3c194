// Peak host memory of a stretch of code, from the kernel's per-process high-water
// mark: on Linux, writing "5" to /proc/self/clear_refs resets VmHWM to the current
// resident set, and VmHWM afterwards is the peak since. It sees what an in-process
// backend (the CPU plugin) allocates for a kernel call, e.g. the L x L scores of
// `naive`; device memory of GPU backends is not host memory and reads as ~0.
#pragma once

#include <optional>

namespace attnbench {

/// Resets the high-water mark on construction; extra_bytes() is the growth since.
class HostPeakMemory {
 public:
  HostPeakMemory();
  /// Peak resident bytes above the resident size at construction; empty where the
  /// mark could not be reset or read (not Linux, /proc not mounted).
  std::optional<double> extra_bytes() const;

 private:
  std::optional<double> start_rss_;
};

}  // namespace attnbench
