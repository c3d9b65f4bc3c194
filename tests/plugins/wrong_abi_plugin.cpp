// Test plugin built for a different ABI version: the loader must refuse it by name.
#include <attnbench/plugin_abi.h>

namespace {
const ab_plugin kPlugin = {ATTNBENCH_PLUGIN_API_VERSION + 41, sizeof(ab_plugin), "wrong-abi", "", "0", nullptr};
}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
