// Test-only build "B" of the CPU backend for `attnbench ab`: it loads the real CPU
// plugin (ATTNBENCH_REAL_CPU_PLUGIN) and forwards every entry, except that the option
// `slowdown=X` reports each run_attention as (1 + X) times the kernel's own time, so a
// candidate exactly X slower can be made on purpose while the real kernel (and the
// machine's noise on it) still runs. Waiting out the extra time instead was tried: the
// CPU backend's idle worker threads then fall asleep between calls and the next call
// pays their wake-up, which turned a 30% knob into 50-120%. It keeps the name "cpu":
// A and B are two builds of one backend.
#include <attnbench/plugin_abi.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace slowed {

const ab_plugin* g_real = nullptr;
ab_plugin g_table{};
double g_slowdown = 0;
std::string g_error;

const ab_plugin* real() {
  if (!g_real) {
    void* h = dlopen(ATTNBENCH_REAL_CPU_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    auto entry = h ? reinterpret_cast<ab_plugin_entry_fn>(dlsym(h, ATTNBENCH_PLUGIN_ENTRY)) : nullptr;
    g_real = entry ? entry() : nullptr;
  }
  return g_real;
}

/// Takes slowdown=X out of "k=v,..." and passes the rest to the real plugin.
std::string strip_slowdown(const std::string& options) {
  std::string rest;
  size_t start = 0;
  while (start <= options.size()) {
    const size_t end = std::min(options.find(',', start), options.size());
    const std::string item = options.substr(start, end - start);
    if (item.rfind("slowdown=", 0) == 0) g_slowdown = std::strtod(item.c_str() + 9, nullptr);
    else if (!item.empty()) rest += (rest.empty() ? "" : ",") + item;
    start = end + 1;
  }
  return rest;
}

ab_status create(int32_t device, const char* options, void** ctx) {
  g_slowdown = 0;
  return real()->create(device, strip_slowdown(options ? options : "").c_str(), ctx);
}

ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* a, double* seconds) {
  const ab_status s = real()->run_attention(ctx, variant, a, seconds);
  if (s == AB_OK) *seconds *= 1 + g_slowdown;
  return s;
}

int32_t device_count() { return real() ? real()->device_count() : 0; }

const ab_plugin* table() {
  if (!real()) return nullptr;
  g_table = *real();
  g_table.description = "test-only: the CPU backend with a slowdown=X knob (build B of an A/B test)";
  g_table.device_count = device_count;
  g_table.create = create;
  g_table.run_attention = run_attention;
  return &g_table;
}

}  // namespace slowed

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return slowed::table(); }
