#include "plugin_loader.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

namespace attnbench {
namespace fs = std::filesystem;

LoadedPlugin::LoadedPlugin(void* handle, const ab_plugin& table, const ab_kv_ops* kv, std::string path)
    : handle_(handle), table_(table), path_(std::move(path)) {
  // The table's kv points into the plugin's own (possibly shorter or longer) table; readers
  // get this object's widened copy instead.
  if (kv) kv_ = *kv;
  table_.kv = kv ? &kv_ : nullptr;
}

LoadedPlugin::~LoadedPlugin() {
  if (handle_) dlclose(handle_);
}

namespace {

std::string first_line(const char* s) {
  std::string msg = s ? s : "unknown error";
  msg = msg.substr(0, msg.find('\n'));
  return msg;
}

bool table_complete(const ab_plugin* t) {
  return t->name && t->variants && t->device_count && t->create && t->destroy && t->last_error &&
         t->device_info && t->supports && t->alloc && t->release && t->upload && t->download && t->fill &&
         t->run_attention && t->measure_peaks;
}

std::string exe_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

}  // namespace

std::string check_plugin_table(const ab_plugin* table, ab_plugin& widened, ab_kv_ops& kv) {
  widened = ab_plugin{};
  kv = ab_kv_ops{};
  if (!table) return "entry point returned no function table";
  // api_version and struct_size lead every version of the table, so they are safe to read.
  const uint32_t version = table->api_version, size = table->struct_size;
  if (version == 1) {
    if (size != ATTNBENCH_PLUGIN_V1_SIZE)
      return fmt::format("ABI version 1 function table is {} bytes, expected {} (built against a different header)", size,
                         ATTNBENCH_PLUGIN_V1_SIZE);
  } else if (version == ATTNBENCH_PLUGIN_API_VERSION) {
    if (size < ATTNBENCH_PLUGIN_V2_BASE_SIZE)
      return fmt::format("ABI version {} function table is {} bytes, expected at least {} (built against an older header)",
                         version, size, ATTNBENCH_PLUGIN_V2_BASE_SIZE);
  } else {
    return fmt::format(
        "built for plugin ABI version {}, this harness loads version {} (attention only) and version {}; rebuild it "
        "against this SDK",
        version, ATTNBENCH_PLUGIN_API_VERSION_MIN, ATTNBENCH_PLUGIN_API_VERSION);
  }
  // Never read past the plugin's own struct_size: a v1 table ends before kv.
  std::memcpy(&widened, table, std::min<size_t>(size, sizeof(ab_plugin)));
  if (!table_complete(&widened)) return "function table has missing (null) entries";
  if (widened.kv) {
    const uint32_t kv_size = widened.kv->struct_size;
    if (kv_size < sizeof(ab_kv_ops))
      return fmt::format("KV primitives table is {} bytes, expected at least {} (built against an older header)", kv_size,
                         sizeof(ab_kv_ops));
    std::memcpy(&kv, widened.kv, sizeof(ab_kv_ops));
  }
  return {};
}

std::unique_ptr<LoadedPlugin> load_plugin(const std::string& path, std::string& reason) {
  // RTLD_LOCAL keeps each plugin's symbols (and its statically linked runtimes) apart.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    reason = fmt::format("cannot open: {}", first_line(dlerror()));
    return nullptr;
  }
  auto entry = reinterpret_cast<ab_plugin_entry_fn>(dlsym(handle, ATTNBENCH_PLUGIN_ENTRY));
  if (!entry) {
    reason = fmt::format("no entry point '{}' exported", ATTNBENCH_PLUGIN_ENTRY);
    dlclose(handle);
    return nullptr;
  }
  ab_plugin widened{};
  ab_kv_ops kv{};
  reason = check_plugin_table(entry(), widened, kv);
  if (reason.empty()) return std::make_unique<LoadedPlugin>(handle, widened, widened.kv ? &kv : nullptr, path);
  dlclose(handle);
  return nullptr;
}

std::vector<std::string> plugin_search_dirs() {
  // <exe dir>/plugins in a build tree; <prefix>/lib/attnbench/plugins for an attnbench
  // installed in <prefix>/bin (ATTNBENCH_PLUGIN_INSTALL_DIR, cmake/AttnbenchPlugin.cmake).
  const fs::path bin = exe_dir();
  std::vector<std::string> dirs{(bin / "plugins").string(), (bin / ".." / "lib" / "attnbench" / "plugins").lexically_normal().string()};
  if (const char* env = std::getenv("ATTNBENCH_PLUGIN_PATH")) {
    std::string_view rest = env;
    while (!rest.empty()) {
      const size_t colon = rest.find(':');
      const std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) dirs.emplace_back(dir);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return dirs;
}

PluginScan scan_plugins(const std::vector<std::string>& dirs) {
  PluginScan scan;
  std::set<std::string> names;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.starts_with("libattnbench-backend-") && file.ends_with(".so")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::string reason;
      auto plugin = load_plugin(file.string(), reason);
      if (!plugin) {
        scan.rejected.push_back({file.string(), reason});
      } else if (!names.insert(plugin->name()).second) {
        scan.rejected.push_back({file.string(), fmt::format("backend '{}' already loaded from an earlier path", plugin->name())});
      } else {
        scan.plugins.push_back(std::move(plugin));
      }
    }
  }
  return scan;
}

}  // namespace attnbench
