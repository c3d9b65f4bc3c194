// Template backend: the smallest complete attnbench plugin (plugin ABI v2). It implements
// the `naive` variant for fp32 with plain loops on the host, declares everything else
// unsupported with a reason, and shows every entry of the ABI table. It declares no KV
// primitives (kv = NULL), so its KV-method cases are stored unsupported; a backend that
// fills an ab_kv_ops table runs every KV method. Start a new backend by copying this
// folder; keep only the C ABI at the boundary. A KV method of your own needs no backend:
// see template_keep_every_other.cpp.
#include <attnbench/attention_hooks.h>
#include <attnbench/plugin_abi.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

struct Context {
  std::string error;
};
thread_local std::string g_create_error;

const char* const kVariants[] = {"naive", nullptr};

ab_status fail(Context* c, ab_status s, const std::string& msg) {
  (c ? c->error : g_create_error) = msg;
  return s;
}

int32_t device_count() { return 1; }

ab_status create(int32_t device, const char* options, void** ctx) {
  if (device != 0) return fail(nullptr, AB_NO_DEVICE, "template backend has exactly one device");
  if (options && *options) return fail(nullptr, AB_INVALID_ARGUMENT, std::string("template backend takes no options: ") + options);
  *ctx = new (std::nothrow) Context();
  return *ctx ? AB_OK : fail(nullptr, AB_OUT_OF_MEMORY, "out of memory");
}
void destroy(void* ctx) { delete static_cast<Context*>(ctx); }
const char* last_error(void* ctx) { return ctx ? static_cast<Context*>(ctx)->error.c_str() : g_create_error.c_str(); }

ab_status device_info(void*, ab_device_info* out) {
  std::memset(out, 0, sizeof(*out));
  std::strncpy(out->name, "template host device", sizeof(out->name) - 1);
  out->compute_units = 1;
  return AB_OK;
}

ab_status supports(void* ctx, const char* variant, const ab_attention_args* a) {
  auto* c = static_cast<Context*>(ctx);
  if (std::strcmp(variant, "naive") != 0) return fail(c, AB_UNSUPPORTED, std::string("template implements only naive, not ") + variant);
  if (a->dtype != AB_F32) return fail(c, AB_UNSUPPORTED, "template computes fp32 storage only");
  if (a->page_size > 0) return fail(c, AB_UNSUPPORTED, "template has no paged KV cache");
  if (a->seq_len_q || a->seq_len_k) return fail(c, AB_UNSUPPORTED, "template has no varlen support");
  if (a->head_dim_v != 0 && a->head_dim_v != a->head_dim) return fail(c, AB_UNSUPPORTED, "template needs head_dim_v == head_dim");
  if (a->lse) return fail(c, AB_UNSUPPORTED, "template writes no lse output");
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

ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* a, double* seconds) {
  const ab_status s = supports(ctx, variant, a);
  if (s != AB_OK) return s;
  const auto t0 = std::chrono::steady_clock::now();
  naive_fp32(*a);
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
    ATTNBENCH_PLUGIN_API_VERSION, sizeof(ab_plugin), "template",
    "out-of-tree example backend (fp32 naive attention on the host)", "0.1.0", kVariants,
    device_count, create, destroy, last_error, device_info, supports, alloc, release, upload, download, fill,
    run_attention, measure_peaks,
    /*kv=*/nullptr,           // no KV primitives: KV-method cases on this backend are unsupported
    /*run_backward=*/nullptr, // no backward pass
    /*memory_info=*/nullptr,  // the harness falls back to device_info
    /*call_stats=*/nullptr};  // exact attention only: no attended pairs to count

}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
