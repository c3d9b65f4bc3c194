// Memory a case will need, judged before anything is allocated, so a case too big for
// the machine is stored as `oom` instead of being left to the kernel's OOM killer
// (which would take the worker and its whole device context with it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "attnbench/plugin_abi.h"
#include "case_spec.h"

namespace attnbench {

/// Bytes an attention case allocates: fp32 host inputs, staging for upload and
/// download, and the device buffers (Q, K, V, O and the paged block table).
struct CaseMemory {
  double host_bytes = 0;
  double device_bytes = 0;
};

/// What `shape` allocates (paged caches count their whole page pool and block table).
CaseMemory case_memory(const Shape& shape);

/// MemAvailable of /proc/meminfo in bytes; nullopt where it cannot be read.
std::optional<double> host_memory_available();

/// Why `shape` cannot fit (empty when it can): against MemAvailable on the host, and
/// against the device's memory. A device whose memory is the host's (the CPU backend
/// reports physical RAM, or nothing) must fit host and device buffers in MemAvailable.
std::string memory_shortfall(const Shape& shape, const ab_device_info& device);

}  // namespace attnbench
