// Which AMD GPUs a HIP plugin build can run on: the device's gcnArchName (a target id such
// as "gfx90a:sramecc+:xnack-") against the --offload-arch list the plugin was built with
// (AB_HIP_BUILT_TARGETS from CMake). Without a matching code object every launch would fail
// ("no kernel image"), so create() refuses such a device up front with the reason.
// Host-only C++17 (no HIP headers), tested on the CPU.
#pragma once

#include <string>
#include <vector>

namespace attnbench::gpu {

/// Target ids of a built list "gfx90a,gfx908;gfx1030" (',' ';' or blanks between them).
inline std::vector<std::string> split_targets(const char* list) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = list ? list : ""; ; ++p) {
    const char ch = *p;
    if (ch == '\0' || ch == ',' || ch == ';' || ch == ' ' || ch == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (ch == '\0') break;
    } else {
      cur += ch;
    }
  }
  return out;
}

/// Processor of a target id: "gfx90a:sramecc+:xnack-" -> "gfx90a".
inline std::string arch_base(const std::string& target_id) {
  return target_id.substr(0, target_id.find(':'));
}

/// Feature settings of a target id: "gfx90a:sramecc+:xnack-" -> {"sramecc+", "xnack-"}.
inline std::vector<std::string> arch_features(const std::string& target_id) {
  std::vector<std::string> out;
  size_t at = target_id.find(':');
  while (at != std::string::npos) {
    const size_t next = target_id.find(':', at + 1);
    const std::string f = target_id.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
    if (!f.empty()) out.push_back(f);
    at = next;
  }
  return out;
}

/// Whether a code object built for `built` ("gfx90a", or "gfx90a:xnack+" with a feature
/// pinned) runs on a device reporting `device`: same processor, and every feature the build
/// pins set the same way on the device (a feature the build leaves out means "any"; one the
/// device does not report cannot be checked and is accepted).
inline bool target_runs_on(const std::string& built, const std::string& device) {
  if (built.empty() || arch_base(built) != arch_base(device)) return false;
  const std::vector<std::string> dev = arch_features(device);
  for (const std::string& f : arch_features(built)) {
    const std::string name = f.substr(0, f.size() - 1);  // "xnack+" -> "xnack"
    for (const std::string& d : dev)
      if (d.substr(0, d.size() - 1) == name && d != f) return false;
  }
  return true;
}

/// Empty when a target of `built_list` runs on the device `device_arch` (gcnArchName),
/// else the one-line reason create() reports with AB_NO_DEVICE.
inline std::string arch_mismatch(const char* device_arch, const char* built_list) {
  const std::string device = device_arch ? device_arch : "";
  const std::vector<std::string> built = split_targets(built_list);
  for (const std::string& t : built)
    if (target_runs_on(t, device)) return {};
  std::string list;
  for (const std::string& t : built) list += (list.empty() ? "" : ", ") + t;
  return "device is " + (arch_base(device).empty() ? std::string("an unknown AMD GPU") : arch_base(device)) +
         (device.find(':') != std::string::npos ? " (" + device + ")" : "") +
         " but this HIP plugin carries code only for " + (list.empty() ? "no target" : list) +
         "; rebuild it with -DATTNBENCH_HIP_ARCHITECTURES=" + arch_base(device) +
         " using a hipcc that supports that target";
}

}  // namespace attnbench::gpu
