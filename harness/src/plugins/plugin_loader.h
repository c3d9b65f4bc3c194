// Finds backend plugins (libattnbench-backend-*.so) in <exe dir>/plugins and the
// directories of ATTNBENCH_PLUGIN_PATH, checks their ABI version, and says in one
// line why it refuses any of them. A refused plugin never stops the others.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "attnbench/plugin_abi.h"

namespace attnbench {

/// A plugin library kept open for the life of the object.
class LoadedPlugin {
 public:
  LoadedPlugin(void* handle, const ab_plugin* table, std::string path);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const ab_plugin& table() const { return *table_; }
  const std::string& path() const { return path_; }
  std::string name() const { return table_->name; }

 private:
  void* handle_;
  const ab_plugin* table_;
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

/// Opens one plugin file. Returns nullptr and sets `reason` if it is refused.
std::unique_ptr<LoadedPlugin> load_plugin(const std::string& path, std::string& reason);

/// Directories searched, in order: <exe dir>/plugins, <exe dir>/../lib/attnbench/plugins (an
/// installed prefix), then ATTNBENCH_PLUGIN_PATH (':'-separated).
std::vector<std::string> plugin_search_dirs();

/// Loads every plugin in `dirs`; the first plugin of a given name wins, later ones are refused.
PluginScan scan_plugins(const std::vector<std::string>& dirs);

}  // namespace attnbench
