// Template KV method plugin: the smallest complete attnbench method, in one file.
// `template_keep_every_other` keeps every second token of the prompt (positions 0, 2, 4,
// ...) plus the most recent `recent` tokens, in every KV head. It is budget-free: the
// options are recent (default 32) and elem_bytes (bytes per stored element, default 2).
//
// A method only answers with a plan (which slots each KV head keeps and the bytes each
// head stores); the harness builds the cache from the plan on the backend and decodes over
// it, so the method runs on every backend that has the KV primitives. Anything heavy
// (attention scores, statistics, top-k) goes through env->plugin->kv with env->ctx, e.g.
//   env->plugin->kv->topk(env->ctx, &args, &seconds)
// over device buffers from env->plugin->alloc; this method needs positions only.
//
// Start a new method by copying this file; keep only the C ABI at the boundary.
#include <attnbench/kv_method_abi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr const char* kName = "template_keep_every_other";

struct Options {
  long recent = 32;
  long elem_bytes = 2;
};

ab_status fail(char* err, size_t cap, ab_status s, const std::string& msg) {
  if (err && cap) std::snprintf(err, cap, "%s", msg.c_str());
  return s;
}

/// Parses "template_keep_every_other[:key=value,...]" (integer values).
ab_status parse(const char* config, Options& o, char* err, size_t cap) {
  const std::string text = config ? config : "";
  const std::string name = text.substr(0, text.find(':'));
  if (name != kName) return fail(err, cap, AB_INVALID_ARGUMENT, "config names '" + name + "', not " + kName);
  if (text.size() <= name.size() + 1) return AB_OK;
  size_t start = name.size() + 1;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    char* rest = nullptr;
    const double x = std::strtod(value.c_str(), &rest);
    if (value.empty() || *rest || x != static_cast<double>(static_cast<long>(x)))
      return fail(err, cap, AB_INVALID_ARGUMENT, "option '" + key + "' needs an integer, got '" + value + "'");
    if (key == "recent") {
      if (x < 0 || x > (1 << 30)) return fail(err, cap, AB_INVALID_ARGUMENT, "recent must be in [0, 2^30]");
      o.recent = static_cast<long>(x);
    } else if (key == "elem_bytes") {
      if (x < 1 || x > 8) return fail(err, cap, AB_INVALID_ARGUMENT, "elem_bytes must be in [1, 8]");
      o.elem_bytes = static_cast<long>(x);
    } else {
      return fail(err, cap, AB_INVALID_ARGUMENT, "unknown option '" + key + "' (recent, elem_bytes)");
    }
    start = end + 1;
  }
  return AB_OK;
}

/// Tokens each head keeps: the recent window, plus the even positions before it.
long kept_tokens(long len_k, long recent) {
  const long window = recent < len_k ? recent : len_k;
  const long before = len_k - window;
  return (before + 1) / 2 + window;
}

ab_status canonical(const char* config, char* out, size_t cap, char* err, size_t err_cap) {
  Options o;
  if (const ab_status s = parse(config, o, err, err_cap); s != AB_OK) return s;
  const int n = std::snprintf(out, cap, "%s:recent=%ld,elem_bytes=%ld", kName, o.recent, o.elem_bytes);
  if (n < 0 || static_cast<size_t>(n) >= cap) return fail(err, err_cap, AB_INVALID_ARGUMENT, "canonical config does not fit");
  return AB_OK;
}

ab_status requested_bytes(const char* config, const ab_kv_layer* layer, int32_t elem_bytes, uint64_t* bytes, char* err,
                          size_t err_cap) {
  Options o;
  if (const ab_status s = parse(config, o, err, err_cap); s != AB_OK) return s;
  if (layer->len_k < 1 || layer->heads_kv < 1 || layer->head_dim < 1)
    return fail(err, err_cap, AB_INVALID_ARGUMENT, "empty layer");
  // K and V of every kept token, per KV head, at full precision.
  *bytes = static_cast<uint64_t>(layer->heads_kv) * kept_tokens(layer->len_k, o.recent) * 2u *
           static_cast<uint64_t>(layer->head_dim) * static_cast<uint64_t>(elem_bytes);
  return AB_OK;
}

ab_status compress(const ab_kv_env*, const char* config, const ab_kv_layer* layer, int32_t elem_bytes, ab_kv_plan* plan,
                   char* err, size_t err_cap) {
  Options o;
  if (const ab_status s = parse(config, o, err, err_cap); s != AB_OK) return s;
  const long len = layer->len_k;
  if (len < 1 || layer->heads_kv < 1) return fail(err, err_cap, AB_INVALID_ARGUMENT, "empty layer");
  if (plan->kept_stride < len) return fail(err, err_cap, AB_INVALID_ARGUMENT, "plan has room for fewer slots than tokens");
  const long window_start = len - (o.recent < len ? o.recent : len);
  const uint64_t token_bytes = 2u * static_cast<uint64_t>(layer->head_dim) * static_cast<uint64_t>(elem_bytes);
  for (int32_t j = 0; j < layer->heads_kv; ++j) {
    int32_t* kept = plan->kept + static_cast<size_t>(j) * plan->kept_stride;
    int32_t n = 0;
    for (long t = 0; t < len; ++t)
      if (t >= window_start || t % 2 == 0) kept[n++] = static_cast<int32_t>(t);
    plan->kept_count[j] = n;
    plan->bytes_per_head[j] = static_cast<uint64_t>(n) * token_bytes;
  }
  return AB_OK;
}

const ab_kv_method kMethod = {
    ATTNBENCH_KV_METHOD_API_VERSION,
    sizeof(ab_kv_method),
    kName,
    "template: keeps every second token plus a recent window (example method plugin)",
    "recent=32,elem_bytes=2",
    /*needs_queries=*/0,
    canonical,
    requested_bytes,
    compress};

const ab_kv_method* const kMethods[] = {&kMethod, nullptr};

}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_kv_method* const* attnbench_kv_method_entry(void) { return kMethods; }
