// Test-only backend "slow": the template's naive fp32 attention with two knobs that
// make a candidate worse on purpose, for the CI-flow tests of `compare`:
//   delay_ms=N  sleeps N ms inside the timed region of every call (a slower kernel)
//   noise=X     scales each output element by (1 + X * h), h a fixed hash in [-1, 1]
//               (a less accurate kernel; deterministic, so reruns stay bit-identical)
// Knobs come from create() options ("delay_ms=5,noise=1e-3"; "threads=N" from
// `attnbench run --threads` is accepted and ignored) or, because `attnbench run` has
// no generic backend-options flag, from ATTNBENCH_TEST_DELAY_MS / ATTNBENCH_TEST_NOISE.
// Built into ${CMAKE_BINARY_DIR}/test-plugins-ci, never installed.
#include <attnbench/attention_hooks.h>
#include <attnbench/plugin_abi.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Context {
  std::string error;
  double delay_ms = 0;
  double noise = 0;
};
thread_local std::string g_create_error;

const char* const kVariants[] = {"naive", nullptr};

ab_status fail(Context* c, ab_status s, const std::string& msg) {
  (c ? c->error : g_create_error) = msg;
  return s;
}

int32_t device_count() { return 1; }

double env_number(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtod(v, nullptr) : 0.0;
}

/// Parses "k=v,k=v"; unknown keys are an error so a typo cannot silently do nothing.
bool parse_options(const std::string& text, Context& c, std::string& error) {
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "delay_ms") c.delay_ms = std::strtod(value.c_str(), nullptr);
    else if (key == "noise") c.noise = std::strtod(value.c_str(), nullptr);
    else if (key != "threads" && !key.empty()) {
      error = "slow backend: unknown option '" + key + "' (delay_ms, noise, threads)";
      return false;
    }
    start = end + 1;
  }
  return true;
}

ab_status create(int32_t device, const char* options, void** ctx) {
  if (device != 0) return fail(nullptr, AB_NO_DEVICE, "slow backend has exactly one device");
  auto* c = new (std::nothrow) Context();
  if (!c) return fail(nullptr, AB_OUT_OF_MEMORY, "out of memory");
  c->delay_ms = env_number("ATTNBENCH_TEST_DELAY_MS");
  c->noise = env_number("ATTNBENCH_TEST_NOISE");
  std::string error;
  if (options && !parse_options(options, *c, error)) {
    delete c;
    return fail(nullptr, AB_INVALID_ARGUMENT, error);
  }
  *ctx = c;
  return AB_OK;
}
void destroy(void* ctx) { delete static_cast<Context*>(ctx); }
const char* last_error(void* ctx) { return ctx ? static_cast<Context*>(ctx)->error.c_str() : g_create_error.c_str(); }

ab_status device_info(void*, ab_device_info* out) {
  std::memset(out, 0, sizeof(*out));
  std::strncpy(out->name, "slow test device", sizeof(out->name) - 1);
  out->compute_units = 1;
  return AB_OK;
}

ab_status supports(void* ctx, const char* variant, const ab_attention_args* a) {
  auto* c = static_cast<Context*>(ctx);
  if (std::strcmp(variant, "naive") != 0) return fail(c, AB_UNSUPPORTED, std::string("slow implements only naive, not ") + variant);
  if (a->dtype != AB_F32) return fail(c, AB_UNSUPPORTED, "slow computes fp32 storage only");
  if (a->page_size > 0) return fail(c, AB_UNSUPPORTED, "slow has no paged KV cache");
  if (a->seq_len_q || a->seq_len_k) return fail(c, AB_UNSUPPORTED, "slow has no varlen support");
  if (a->heads_kv < 1 || a->heads_q % a->heads_kv) return fail(c, AB_INVALID_ARGUMENT, "heads_q must be a multiple of heads_kv");
  return AB_OK;
}

ab_status alloc(void* ctx, size_t bytes, ab_buffer* out) {
  void* p = std::malloc(bytes ? bytes : 1);
  if (!p) return fail(static_cast<Context*>(ctx), AB_OUT_OF_MEMORY, "malloc failed");
  *out = static_cast<ab_buffer>(p);
  return AB_OK;
}
void release(void*, ab_buffer b) { std::free(b); }
ab_status upload(void*, ab_buffer dst, const void* src, size_t n) { std::memcpy(dst, src, n); return AB_OK; }
ab_status download(void*, void* dst, ab_buffer src, size_t n) { std::memcpy(dst, src, n); return AB_OK; }
ab_status fill(void*, ab_buffer dst, uint8_t byte, size_t n) { std::memset(dst, byte, n); return AB_OK; }

/// Materialised scores per row, softmax, weighted sum of V: the unfused baseline.
void naive_fp32(const ab_attention_args& a) {
  const attnbench::MaskHook mask{a.causal, a.window_left, a.window_right};
  const attnbench::LogitsHook logits{a.scale, a.softcap};
  const int d = a.head_dim;
  const auto* q = reinterpret_cast<const float*>(a.q);
  const auto* k = reinterpret_cast<const float*>(a.k);
  const auto* v = reinterpret_cast<const float*>(a.v);
  auto* o = reinterpret_cast<float*>(a.o);
  std::vector<float> s(a.len_k);
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h) {
      const int hk = attnbench::kv_head_of(h, a.heads_q, a.heads_kv);
      const float* K = k + (static_cast<size_t>(b) * a.heads_kv + hk) * a.len_k * d;
      const float* V = v + (static_cast<size_t>(b) * a.heads_kv + hk) * a.len_k * d;
      for (int i = 0; i < a.len_q; ++i) {
        const float* qi = q + ((static_cast<size_t>(b) * a.heads_q + h) * a.len_q + i) * d;
        float* oi = o + ((static_cast<size_t>(b) * a.heads_q + h) * a.len_q + i) * d;
        const attnbench::KeyRange r = mask.keys_for(i, a.len_q, a.len_k);
        float mx = -INFINITY, sum = 0;
        for (int j = r.lo; j < r.hi; ++j) {
          float dot = 0;
          for (int c = 0; c < d; ++c) dot += qi[c] * K[static_cast<size_t>(j) * d + c];
          s[j] = logits.apply<float>(dot, std::tanh);
          mx = std::fmax(mx, s[j]);
        }
        for (int j = r.lo; j < r.hi; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int c = 0; c < d; ++c) oi[c] = 0;
        for (int j = r.lo; j < r.hi; ++j)
          for (int c = 0; c < d; ++c) oi[c] += s[j] / sum * V[static_cast<size_t>(j) * d + c];
      }
    }
}

/// Deterministic perturbation in [-1, 1] per output element (splitmix64 of the index).
double hash_unit(uint64_t i) {
  uint64_t z = i + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / static_cast<double>(1ull << 52) - 1.0;
}

ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* a, double* seconds) {
  const ab_status s = supports(ctx, variant, a);
  if (s != AB_OK) return s;
  const auto& c = *static_cast<Context*>(ctx);
  const auto t0 = std::chrono::steady_clock::now();
  naive_fp32(*a);
  if (c.noise != 0) {
    auto* o = reinterpret_cast<float*>(a->o);
    const size_t n = static_cast<size_t>(a->batch) * a->heads_q * a->len_q * a->head_dim;
    for (size_t i = 0; i < n; ++i) o[i] = static_cast<float>(o[i] * (1.0 + c.noise * hash_unit(i)));
  }
  if (c.delay_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(c.delay_ms));
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return AB_OK;
}

/// A real (if modest) measurement: one FMA chain per lane of a small array.
ab_status measure_peaks(void*, ab_peaks* out) {
  std::vector<float> acc(64, 1.0f);
  const int iters = 2000000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int it = 0; it < iters; ++it)
    for (float& x : acc) x = x * 0.999999f + 1e-7f;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float sink = acc[0];
  (void)sink;
  out->flops_f32 = 2.0 * iters * acc.size() / secs;
  out->flops_f16 = 0;
  out->bytes_per_second = 0;
  return AB_OK;
}

const ab_plugin kPlugin = {
    ATTNBENCH_PLUGIN_API_VERSION, sizeof(ab_plugin), "slow",
    "test-only backend: naive fp32 with delay_ms / noise knobs", "0.1.0", kVariants,
    device_count, create, destroy, last_error, device_info, supports, alloc, release, upload, download, fill,
    run_attention, measure_peaks};

}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
