#include "method_plugin_loader.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>

#include "kv_policy.h"
#include "plugin_policy.h"

namespace attnbench {
namespace fs = std::filesystem;
namespace {

/// A list longer than this is taken for a missing NULL terminator.
constexpr int kMaxMethodsPerFile = 256;

/// Handles of every method plugin that registered a method: never closed, because the
/// registry's factories point into their tables until the process exits.
std::mutex g_handles_mu;
std::vector<void*> g_handles;

std::string first_line(const char* s) {
  std::string msg = s ? s : "unknown error";
  return msg.substr(0, msg.find('\n'));
}

bool valid_name(const char* name) {
  const size_t n = strnlen(name, 65);
  if (n == 0 || n > 64) return false;
  return std::all_of(name, name + n, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

/// The checked method list of an opened library, or the reason it is refused.
std::string method_list(void* handle, std::vector<const ab_kv_method*>& out) {
  auto entry = reinterpret_cast<ab_kv_method_entry_fn>(dlsym(handle, ATTNBENCH_KV_METHOD_ENTRY));
  if (!entry) return fmt::format("no entry point '{}' exported", ATTNBENCH_KV_METHOD_ENTRY);
  const ab_kv_method* const* list = entry();
  if (!list) return "entry point returned no method list";
  std::set<std::string> names;
  for (int i = 0; list[i]; ++i) {
    if (i == kMaxMethodsPerFile) return fmt::format("method list has no NULL terminator within {} entries", kMaxMethodsPerFile);
    if (std::string why = check_method_table(list[i]); !why.empty()) return fmt::format("method {}: {}", i, why);
    if (!names.insert(list[i]->name).second) return fmt::format("method '{}' is listed twice", list[i]->name);
    out.push_back(list[i]);
  }
  if (out.empty()) return "method list is empty";
  return {};
}

}  // namespace

std::string check_method_table(const ab_kv_method* m) {
  if (!m) return "null method table";
  // api_version and struct_size lead every version of the table.
  if (m->api_version != ATTNBENCH_KV_METHOD_API_VERSION)
    return fmt::format("built for KV-method ABI version {}, this harness speaks version {}; rebuild it against this SDK",
                       m->api_version, ATTNBENCH_KV_METHOD_API_VERSION);
  if (m->struct_size < sizeof(ab_kv_method))
    return fmt::format("method table is {} bytes, expected at least {} (built against an older header)", m->struct_size,
                       sizeof(ab_kv_method));
  if (!m->name) return "method has no name";
  if (!valid_name(m->name))
    return fmt::format("method name '{}' must be 1-64 letters, digits, '_' or '-'", std::string(m->name, strnlen(m->name, 64)));
  if (!m->description || !m->options) return fmt::format("method '{}' has a null description or options", m->name);
  if (!m->canonical || !m->requested_bytes || !m->compress)
    return fmt::format("method '{}' has missing (null) entries (canonical, requested_bytes and compress are required)", m->name);
  return {};
}

void load_method_plugin(const std::string& path, MethodPluginScan& scan) {
  // RTLD_LOCAL keeps each plugin's symbols apart, as for backends.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    scan.rejected.push_back({path, fmt::format("cannot open: {}", first_line(dlerror()))});
    return;
  }
  std::vector<const ab_kv_method*> methods;
  if (std::string why = method_list(handle, methods); !why.empty()) {
    scan.rejected.push_back({path, why});
    dlclose(handle);
    return;
  }
  int added = 0;
  for (const ab_kv_method* m : methods) {
    try {
      kv::register_kv_method({m->name, m->description, m->options, path}, kv::plugin_policy_factory(*m));
      scan.registered.push_back({m->name, path});
      ++added;
    } catch (const std::invalid_argument& e) {
      // A built-in or an earlier plugin holds the name: the first one wins.
      scan.rejected.push_back({path, first_line(e.what())});
    }
  }
  if (added == 0) {
    dlclose(handle);
    return;
  }
  std::lock_guard<std::mutex> lock(g_handles_mu);
  g_handles.push_back(handle);
}

MethodPluginScan load_method_plugins(const std::vector<std::string>& dirs) {
  MethodPluginScan scan;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.starts_with("libattnbench-method-") && file.ends_with(".so")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) load_method_plugin(file.string(), scan);
  }
  return scan;
}

namespace {
std::once_flag g_once;
MethodPluginScan g_scan;
}  // namespace

const MethodPluginScan& plugin_method_scan() {
  kv::register_plugin_methods();
  return g_scan;
}

}  // namespace attnbench

namespace attnbench::kv {

void register_plugin_methods() {
  std::call_once(g_once, [] { g_scan = load_method_plugins(plugin_search_dirs()); });
}

namespace {
// Every attnbench process registers the method plugins on its search path before main():
// the CLI and its workers both plan cases (a suite naming a plugged-in method must resolve
// in each), and no stage between them is a common entry point. The registry may call
// register_plugin_methods() lazily as well; it runs once either way. Defined after g_once
// and g_scan, so they are initialised first.
[[maybe_unused]] const bool g_registered_at_start = (register_plugin_methods(), true);
}  // namespace

}  // namespace attnbench::kv
