// Test-only backend "slow": the template's naive fp32 attention with two knobs that
// make a candidate worse on purpose, for the CI-flow tests of `compare`:
//   delay_ms=N  sleeps N ms inside the timed region of every call (a slower kernel)
//   noise=X     scales each output element by (1 + X * h), h a fixed hash in [-1, 1]
//               (a less accurate kernel; deterministic, so reruns stay bit-identical)
// Knobs come from create() options ("delay_ms=5,noise=1e-3"; "threads=N" from
// `attnbench run --threads` is accepted and ignored) or, because `attnbench run` has
// no generic backend-options flag, from ATTNBENCH_TEST_DELAY_MS / ATTNBENCH_TEST_NOISE.
// Built into ${CMAKE_BINARY_DIR}/test-plugins-ci, never installed.
// The template backend (backends/template) supplies everything but the knobs: its
// table is reused under another entry name, so the two cannot drift apart.
#define attnbench_plugin_entry attnbench_template_plugin_entry
#include "../../backends/template/template_plugin.cpp"
#undef attnbench_plugin_entry

#include <algorithm>
#include <cstdint>
#include <thread>

namespace slow {

// One context per process in the tests, so the knobs live beside the table.
double g_delay_ms = 0;
double g_noise = 0;
std::string g_error;

double env_number(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtod(v, nullptr) : 0.0;
}

/// Parses "k=v,k=v"; unknown keys are an error so a typo cannot silently do nothing.
bool parse_options(const std::string& text, std::string& error) {
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "delay_ms") g_delay_ms = std::strtod(value.c_str(), nullptr);
    else if (key == "noise") g_noise = std::strtod(value.c_str(), nullptr);
    else if (key != "threads" && !key.empty()) {
      error = "slow backend: unknown option '" + key + "' (delay_ms, noise, threads)";
      return false;
    }
    start = end + 1;
  }
  return true;
}

ab_status create(int32_t device, const char* options, void** ctx) {
  g_delay_ms = env_number("ATTNBENCH_TEST_DELAY_MS");
  g_noise = env_number("ATTNBENCH_TEST_NOISE");
  g_error.clear();
  if (options && !parse_options(options, g_error)) return AB_INVALID_ARGUMENT;
  return ::create(device, "", ctx);  // the template takes no options
}

const char* last_error(void* ctx) { return !ctx && !g_error.empty() ? g_error.c_str() : ::last_error(ctx); }

/// Deterministic perturbation in [-1, 1] per output element (splitmix64 of the index).
double hash_unit(uint64_t i) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(1ull << 52) - 1.0;
}

ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* a, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  double inner = 0;
  const ab_status s = ::run_attention(ctx, variant, a, &inner);
  if (s != AB_OK) return s;
  if (g_noise != 0) {
    auto* o = reinterpret_cast<float*>(a->o);
    const size_t n = static_cast<size_t>(a->batch) * a->heads_q * a->len_q * a->head_dim;
    for (size_t i = 0; i < n; ++i) o[i] = static_cast<float>(o[i] * (1.0 + g_noise * hash_unit(i)));
  }
  if (g_delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(g_delay_ms));
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return AB_OK;
}

ab_plugin make_table() {
  ab_plugin t = *attnbench_template_plugin_entry();
  t.name = "slow";
  t.description = "test-only backend: the template's naive fp32 with delay_ms / noise knobs";
  t.create = create;
  t.last_error = last_error;
  t.run_attention = run_attention;
  return t;
}

const ab_plugin kPlugin = make_table();

}  // namespace slow

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &slow::kPlugin; }
