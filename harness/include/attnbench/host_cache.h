/* The host's last-level cache size from sysfs: what a CPU backend declares as its cache
 * (ab_peaks.cache_bytes), sizes its bandwidth buffer from, and what `--cold` writes twice
 * over between timed calls. Header-only C++17, for the harness and plugins alike. */
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace attnbench {

namespace host_cache_detail {

/** "32768K", "1M", "512" (bytes) as bytes; 0 if unparsable. */
inline size_t parse_cache_size(const std::string& s) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(s.c_str(), &end, 10);
  if (end == s.c_str()) return 0;
  const char unit = *end;
  const size_t mul = unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : unit == 'G' ? size_t(1) << 30 : 1;
  return static_cast<size_t>(n) * mul;
}

inline std::string read_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

/** The largest data or unified cache one CPU sees, from cpuid's deterministic cache
 *  parameters (leaf 4 on Intel, 0x8000001D or else 0x80000006 on AMD): for machines (VMs) whose sysfs has no
 *  cache folders. One instance, so a machine with several L3s counts one. 0 elsewhere. */
inline size_t cpuid_largest_cache_bytes() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
  const bool amd = b == 0x68747541u;  // "Auth"enticAMD
  const unsigned leaf = amd ? 0x8000001Du : 4u;
  unsigned max_ext = 0;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d)) max_ext = a;
  if (!amd) __get_cpuid(0, &a, &b, &c, &d);
  const bool has_leaf = amd ? max_ext >= leaf : a >= leaf;
  int top = 0;
  size_t best = 0;
  for (unsigned i = 0; has_leaf && i < 16; ++i) {
    __cpuid_count(leaf, i, a, b, c, d);
    const unsigned type = a & 0x1f;  // 0: no more caches, 1 data, 2 instruction, 3 unified
    if (type == 0) break;
    if (type == 2) continue;
    const int level = static_cast<int>((a >> 5) & 0x7);
    const size_t bytes = size_t((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) * ((b & 0xfff) + 1) * (size_t(c) + 1);
    if (level > top || (level == top && bytes > best)) { top = level; best = bytes; }
  }
  // AMD without topology extensions (e.g. a VM) leaves 0x8000001D empty; the legacy
  // leaf 0x80000006 still gives L3 in 512 KiB units (EDX 31:18) and L2 in KiB (ECX 31:16).
  if (best == 0 && amd && max_ext >= 0x80000006u) {
    __get_cpuid(0x80000006u, &a, &b, &c, &d);
    best = (d >> 18) ? size_t(d >> 18) * (512u << 10) : size_t(c >> 16) << 10;
  }
  return best;
#else
  return 0;
#endif
}

/** The sysfs walk behind host_last_level_cache_bytes (one pass over every CPU's caches). */
inline size_t read_last_level_cache_bytes() {
  namespace fs = std::filesystem;
  std::error_code ec;
  int top = 0;
  size_t total = 0;
  std::set<std::string> seen;  // shared_cpu_list of each counted cache
  for (const auto& cpu : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const std::string name = cpu.path().filename().string();
    if (name.rfind("cpu", 0) != 0 || name.size() < 4 || name.find_first_not_of("0123456789", 3) != std::string::npos)
      continue;
    std::error_code ec2;
    for (const auto& idx : fs::directory_iterator(cpu.path() / "cache", ec2)) {
      if (idx.path().filename().string().rfind("index", 0) != 0) continue;
      const std::string type = read_line(idx.path() / "type");
      if (type != "Unified" && type != "Data") continue;
      const int level = std::atoi(read_line(idx.path() / "level").c_str());
      const size_t size = parse_cache_size(read_line(idx.path() / "size"));
      if (level < top || size == 0) continue;
      if (level > top) { top = level; total = 0; seen.clear(); }
      if (seen.insert(read_line(idx.path() / "shared_cpu_list")).second) total += size;
    }
  }
  return total ? total : cpuid_largest_cache_bytes();
}

}  // namespace host_cache_detail

/** Total last-level cache of the machine: the data or unified caches of the highest
 *  level in sysfs, one per distinct set of CPUs sharing it (so a machine with one L3
 *  per core complex counts each); where sysfs has none (some VMs), the largest cache
 *  cpuid describes; 0 when neither says. Read once per process: a --cold run asks per
 *  case, and the walk reads a few files per CPU. */
inline size_t host_last_level_cache_bytes() {
  static const size_t bytes = host_cache_detail::read_last_level_cache_bytes();
  return bytes;
}

}  // namespace attnbench
