// Finds backend plugins (libattnbench-backend-*.so) in <exe dir>/plugins and the
// directories of ATTNBENCH_PLUGIN_PATH, checks their ABI version, and says in one
// line why it refuses any of them. A refused plugin never stops the others.
// ABI v1 and v2 tables both load: the loader copies the plugin's table into a
// zero-initialised v2 table, so fields a v1 plugin lacks read as NULL.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attnbench/plugin_abi.h"

namespace attnbench {

/// A plugin library kept open for the life of the object, with its function table as this
/// harness knows it (a v1 table widened with NULL v2 fields; kv pointing at a checked copy).
class LoadedPlugin {
 public:
  /// Takes ownership of `handle`; `table` and `kv` are the checked, widened copies.
  LoadedPlugin(void* handle, const ab_plugin& table, const ab_kv_ops* kv, std::string path);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  /// The widened table; table().kv is NULL or points at this object's copy of the KV ops.
  const ab_plugin& table() const { return table_; }
  const std::string& path() const { return path_; }
  std::string name() const { return table_.name; }
  /// The ABI version the plugin was built for (1 or 2).
  uint32_t api_version() const { return table_.api_version; }

 private:
  void* handle_;
  ab_plugin table_{};
  ab_kv_ops kv_{};
  std::string path_;
};

/// A plugin file the loader refused, with the reason.
struct PluginRejection {
  std::string path;
  std::string reason;
};

/// Everything a scan found.
struct PluginScan {
  std::vector<std::unique_ptr<LoadedPlugin>> plugins;
  std::vector<PluginRejection> rejected;
};

/// Checks a table an entry point returned and widens it to this harness's ab_plugin
/// (and its KV ops to ab_kv_ops). Returns the one-line reason it is refused, or empty.
std::string check_plugin_table(const ab_plugin* table, ab_plugin& widened, ab_kv_ops& kv);

/// Opens one plugin file. Returns nullptr and sets `reason` if it is refused.
std::unique_ptr<LoadedPlugin> load_plugin(const std::string& path, std::string& reason);

/// Directories searched, in order: <exe dir>/plugins, <exe dir>/../lib/attnbench/plugins (an
/// installed prefix), then ATTNBENCH_PLUGIN_PATH (':'-separated).
std::vector<std::string> plugin_search_dirs();

/// Loads every plugin in `dirs`; the first plugin of a given name wins, later ones are refused.
PluginScan scan_plugins(const std::vector<std::string>& dirs);

}  // namespace attnbench
