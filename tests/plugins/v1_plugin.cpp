// Test-only backend "v1": a plugin as it was built against plugin ABI version 1, before
// head_dim_v, lse, backward and the KV primitives. The v1 table and argument layouts are
// frozen here (not taken from today's plugin_abi.h), so this plugin keeps testing that the
// loader still accepts a v1 table and that the harness never sends it v2-only requests.
// It runs fp32 naive attention (causal or not) on the host. Built into
// ${CMAKE_BINARY_DIR}/test-plugins-v1, never installed.
#include <attnbench/plugin_abi.h>  // only for the enums, ab_buffer, ab_device_info, ab_peaks

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

/// ab_attention_args of ABI v1 (frozen).
struct attention_args_v1 {
  int32_t batch, heads_q, heads_kv, len_q, len_k, head_dim;
  ab_dtype dtype;
  int32_t causal, window_left, window_right;
  float scale, softcap;
  const int32_t* seq_len_q;
  const int32_t* seq_len_k;
  int32_t page_size, max_pages_per_seq, num_pages;
  ab_buffer block_table;
  ab_buffer q, k, v, o;
};

/// ab_plugin of ABI v1 (frozen): it ends at measure_peaks.
struct plugin_v1 {
  uint32_t api_version, struct_size;
  const char* name;
  const char* description;
  const char* version;
  const char* const* variants;
  int32_t (*device_count)(void);
  ab_status (*create)(int32_t device, const char* options, void** ctx);
  void (*destroy)(void* ctx);
  const char* (*last_error)(void* ctx);
  ab_status (*device_info)(void* ctx, ab_device_info* out);
  ab_status (*supports)(void* ctx, const char* variant, const attention_args_v1* args);
  ab_status (*alloc)(void* ctx, size_t bytes, ab_buffer* out);
  void (*release)(void* ctx, ab_buffer buf);
  ab_status (*upload)(void* ctx, ab_buffer dst, const void* src, size_t bytes);
  ab_status (*download)(void* ctx, void* dst, ab_buffer src, size_t bytes);
  ab_status (*fill)(void* ctx, ab_buffer dst, uint8_t byte, size_t bytes);
  ab_status (*run_attention)(void* ctx, const char* variant, const attention_args_v1* args, double* seconds);
  ab_status (*measure_peaks)(void* ctx, ab_peaks* out);
};

std::string g_error;
const char* const kVariants[] = {"naive", nullptr};

ab_status fail(ab_status s, const char* msg) {
  g_error = msg;
  return s;
}

int32_t device_count() { return 1; }
ab_status create(int32_t device, const char*, void** ctx) {
  if (device != 0) return fail(AB_NO_DEVICE, "v1 backend has one device");
  *ctx = &g_error;
  return AB_OK;
}
void destroy(void*) {}
const char* last_error(void*) { return g_error.c_str(); }
ab_status device_info(void*, ab_device_info* out) {
  std::memset(out, 0, sizeof(*out));
  std::strncpy(out->name, "v1 host device", sizeof(out->name) - 1);
  out->compute_units = 1;
  return AB_OK;
}

ab_status supports(void*, const char* variant, const attention_args_v1* a) {
  if (std::strcmp(variant, "naive") != 0) return fail(AB_UNSUPPORTED, "v1 implements only naive");
  if (a->dtype != AB_F32) return fail(AB_UNSUPPORTED, "v1 computes fp32 only");
  if (a->page_size > 0 || a->seq_len_q || a->seq_len_k || a->window_left >= 0 || a->window_right >= 0 || a->softcap != 0)
    return fail(AB_UNSUPPORTED, "v1 has no paging, varlen, window or softcap");
  if (a->heads_kv < 1 || a->heads_q % a->heads_kv) return fail(AB_INVALID_ARGUMENT, "heads_q must be a multiple of heads_kv");
  return AB_OK;
}

ab_status alloc(void*, size_t bytes, ab_buffer* out) {
  *out = static_cast<ab_buffer>(std::malloc(bytes ? bytes : 1));
  return *out ? AB_OK : fail(AB_OUT_OF_MEMORY, "malloc failed");
}
void release(void*, ab_buffer b) { std::free(b); }
ab_status upload(void*, ab_buffer dst, const void* src, size_t n) { std::memcpy(dst, src, n); return AB_OK; }
ab_status download(void*, void* dst, ab_buffer src, size_t n) { std::memcpy(dst, src, n); return AB_OK; }
ab_status fill(void*, ab_buffer dst, uint8_t byte, size_t n) { std::memset(dst, byte, n); return AB_OK; }

/// Softmax(scale * q k^T) v per row, causal bottom-right aligned when asked.
void naive(const attention_args_v1& a) {
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const auto* q = reinterpret_cast<const float*>(a.q);
  const auto* k = reinterpret_cast<const float*>(a.k);
  const auto* v = reinterpret_cast<const float*>(a.v);
  auto* o = reinterpret_cast<float*>(a.o);
  std::vector<double> s(a.len_k);
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h) {
      const size_t kv = (static_cast<size_t>(b) * a.heads_kv + h / group) * a.len_k * d;
      for (int i = 0; i < a.len_q; ++i) {
        const size_t row = ((static_cast<size_t>(b) * a.heads_q + h) * a.len_q + i) * d;
        const int hi = a.causal ? std::min(a.len_k, i + (a.len_k - a.len_q) + 1) : a.len_k;
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < hi; ++j) {
          double dot = 0;
          for (int c = 0; c < d; ++c) dot += double(q[row + c]) * k[kv + size_t(j) * d + c];
          mx = std::fmax(mx, s[j] = dot * a.scale);
        }
        for (int j = 0; j < hi; ++j) sum += (s[j] = std::exp(s[j] - mx));
        for (int c = 0; c < d; ++c) {
          double acc = 0;
          for (int j = 0; j < hi; ++j) acc += s[j] * v[kv + size_t(j) * d + c];
          o[row + c] = hi > 0 ? float(acc / sum) : 0.0f;
        }
      }
    }
}

ab_status run_attention(void* ctx, const char* variant, const attention_args_v1* a, double* seconds) {
  if (const ab_status s = supports(ctx, variant, a); s != AB_OK) return s;
  const auto t0 = std::chrono::steady_clock::now();
  naive(*a);
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return AB_OK;
}

ab_status measure_peaks(void*, ab_peaks* out) {
  *out = ab_peaks{1e9, 0, 1e9};
  return AB_OK;
}

const plugin_v1 kPlugin = {1u, sizeof(plugin_v1), "v1", "test backend built against plugin ABI v1", "1.0", kVariants,
                           device_count, create, destroy, last_error, device_info, supports, alloc, release, upload,
                           download, fill, run_attention, measure_peaks};

}  // namespace

extern "C" ATTNBENCH_EXPORT const plugin_v1* attnbench_plugin_entry(void) { return &kPlugin; }
