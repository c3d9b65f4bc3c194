#include "case_memory.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "attnbench/dtype.h"

namespace attnbench {

CaseMemory case_memory(const Shape& s) {
  const double es = static_cast<double>(dtype_size(s.dtype));
  // Q/O and K/V sized at the wider of d and dv: an upper bound when dv != d.
  const double width = std::max(s.head_dim, s.dv());
  const double nq = double(s.batch) * s.heads_q * s.len_q * width;
  const double nk = double(s.batch) * s.heads_kv * s.len_k * width;
  double pool = nk, table = 0;
  if (s.page_size > 0) {
    const double pages_per_seq = (double(s.len_k) + s.page_size - 1) / s.page_size;
    pool = double(s.batch) * pages_per_seq * s.heads_kv * s.page_size * width;
    table = 4.0 * s.batch * pages_per_seq;
  }
  CaseMemory m;
  // fp32 Q, K, V; while one of K/V is staged: its fp32 page copy and encoded bytes;
  // the downloaded output and its decoded copy; the block table and its staging copy.
  m.host_bytes = 4.0 * (nq + 2 * nk) + (s.page_size > 0 ? 4.0 * pool : 0) + es * pool + (es + 4.0) * nq + 2 * table;
  m.device_bytes = es * (2 * nq + 2 * pool) + table;
  return m;
}

std::optional<double> host_memory_available() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    double kib = 0;
    if (fields >> name >> kib && name == "MemAvailable:") return kib * 1024.0;
  }
  return std::nullopt;
}

namespace {

double physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0;
}

std::string gib(double bytes) { return fmt::format("{:.2f} GiB", bytes / (1024.0 * 1024.0 * 1024.0)); }

}  // namespace

std::string memory_shortfall(const Shape& shape, const ab_device_info& device) {
  const CaseMemory need = case_memory(shape);
  const double device_total = static_cast<double>(device.memory_bytes);
  const bool host_device = device_total == 0 || device_total == physical_memory();
  if (const auto avail = host_memory_available()) {
    const double host_need = need.host_bytes + (host_device ? need.device_bytes : 0);
    if (host_need > *avail)
      return fmt::format("needs about {} of host memory{}, MemAvailable is {}", gib(host_need),
                         host_device ? " (inputs, staging and the device buffers)" : " (inputs and staging)", gib(*avail));
  }
  if (!host_device && need.device_bytes > device_total)
    return fmt::format("needs about {} of device memory, the device has {}", gib(need.device_bytes), gib(device_total));
  return {};
}

}  // namespace attnbench
