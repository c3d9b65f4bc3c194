// Test plugin built for an ABI version this harness does not know (42, neither 1 nor 2):
// the loader must refuse it by name. The version is a literal so that it stays unknown
// when ATTNBENCH_PLUGIN_API_VERSION moves on.
#include <attnbench/plugin_abi.h>

namespace {
const ab_plugin kPlugin = {42u, sizeof(ab_plugin), "wrong-abi", "", "0", nullptr};
}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
