// Finds KV-method plugins (libattnbench-method-*.so, kv_method_abi.h) in the folders the
// backend loader searches (plugin_search_dirs: <exe dir>/plugins, an installed prefix's
// lib/attnbench/plugins, ATTNBENCH_PLUGIN_PATH), checks every method table they export,
// and registers each method with kv::register_kv_method behind a kv::PluginPolicy.
// A refused file or method is reported in one line naming the file and the reason; it
// never stops the others. Method plugins stay loaded for the life of the process, since
// the registry keeps factories that point into them.
#pragma once

#include <string>
#include <vector>

#include "attnbench/kv_method_abi.h"
#include "plugin_loader.h"

namespace attnbench {

/// A method a plugin added to the registry.
struct PluginMethod {
  std::string name;
  std::string path;  ///< the plugin file it came from
};

/// What loading a set of method plugins did.
struct MethodPluginScan {
  std::vector<PluginMethod> registered;
  std::vector<PluginRejection> rejected;  ///< refused files, or single methods whose name was taken
};

/// The one-line reason `m` is refused (ABI version, struct_size, name, missing strings or
/// function pointers), or empty when it is usable.
std::string check_method_table(const ab_kv_method* m);

/// Opens `path`, checks its method list and registers every method whose name is free.
/// A file with any bad table registers nothing. Appends to `scan`.
void load_method_plugin(const std::string& path, MethodPluginScan& scan);

/// load_method_plugin for every libattnbench-method-*.so in `dirs`, in order (files
/// sorted by name within a folder); the first method of a name wins.
MethodPluginScan load_method_plugins(const std::vector<std::string>& dirs);

/// The scan kv::register_plugin_methods() did for this process (it runs before main() in
/// every program that links this file, and at the latest here).
const MethodPluginScan& plugin_method_scan();

}  // namespace attnbench
