#include "host_memory.h"

#include <fstream>
#include <string>

namespace attnbench {
namespace {

/// A "VmXXX:   1234 kB" field of /proc/self/status in bytes.
std::optional<double> status_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size())) * 1024.0;
  return std::nullopt;
}

}  // namespace

HostPeakMemory::HostPeakMemory() {
  std::ofstream reset("/proc/self/clear_refs");
  if (!(reset << "5")) return;
  reset.close();
  if (!reset) return;
  start_rss_ = status_bytes("VmRSS");
}

std::optional<double> HostPeakMemory::extra_bytes() const {
  if (!start_rss_) return std::nullopt;
  const std::optional<double> hwm = status_bytes("VmHWM");
  if (!hwm) return std::nullopt;
  return *hwm > *start_rss_ ? *hwm - *start_rss_ : 0.0;
}

}  // namespace attnbench
