#include "backend.h"

#include <fmt/format.h>

namespace attnbench {

const char* status_name(ab_status s) {
  switch (s) {
    case AB_OK: return "ok";
    case AB_UNSUPPORTED: return "unsupported";
    case AB_NO_DEVICE: return "no_device";
    case AB_OUT_OF_MEMORY: return "oom";
    case AB_INVALID_ARGUMENT: return "invalid";
    case AB_INTERNAL_ERROR: return "error";
  }
  return "error";
}

Backend::Backend(const LoadedPlugin& plugin, int device, const std::string& options)
    : t_(plugin.table()), name_(plugin.name()) {
  const ab_status s = t_.create(device, options.c_str(), &ctx_);
  if (s != AB_OK) {
    const char* why = t_.last_error(nullptr);
    ctx_ = nullptr;
    throw BackendError(s, fmt::format("backend '{}': {}", name_, why && *why ? why : status_name(s)));
  }
  check(t_.device_info(ctx_, &info_), "device_info");
}

Backend::~Backend() {
  if (ctx_ && flush_buffer_) t_.release(ctx_, flush_buffer_);
  if (ctx_) t_.destroy(ctx_);
}

std::optional<uint64_t> Backend::attended_pairs() {
  if (!t_.call_stats) return std::nullopt;
  ab_call_stats s{};
  check(t_.call_stats(ctx_, &s), "call_stats");
  if (!s.pairs_counted) return std::nullopt;
  return s.attended_pairs;
}

void Backend::flush_caches(size_t bytes) {
  if (flush_bytes_ != bytes) {
    if (flush_buffer_) t_.release(ctx_, flush_buffer_);
    flush_buffer_ = nullptr;
    flush_bytes_ = 0;
    check(t_.alloc(ctx_, bytes, &flush_buffer_), "alloc (cache flush buffer)");
    flush_bytes_ = bytes;
  }
  flush_byte_ = static_cast<uint8_t>(flush_byte_ + 1);
  check(t_.fill(ctx_, flush_buffer_, flush_byte_, bytes), "fill (cache flush)");
}

void Backend::check(ab_status s, const char* what) const {
  if (s == AB_OK) return;
  const char* why = t_.last_error(ctx_);
  throw BackendError(s, fmt::format("{} {}: {}", name_, what, why && *why ? why : status_name(s)));
}

std::string Backend::v2_args_reason(const ab_attention_args& args) const {
  // A v1 plugin reads only the v1 prefix of ab_attention_args: it would silently compute
  // dv = head_dim and leave lse unwritten, so the harness answers for it.
  if (t_.api_version >= 2) return {};
  if (args.head_dim_v != 0 && args.head_dim_v != args.head_dim)
    return fmt::format("backend '{}' speaks plugin ABI v1, which has no head_dim_v (value head dim {} != key head dim {})",
                       name_, args.head_dim_v, args.head_dim);
  if (args.lse) return fmt::format("backend '{}' speaks plugin ABI v1, which has no lse output", name_);
  return {};
}

std::string Backend::kv_unsupported_reason() const {
  if (t_.kv) return {};
  if (t_.api_version < 2) return fmt::format("backend '{}' speaks plugin ABI v1, which has no KV primitives", name_);
  return fmt::format("backend '{}' declares no KV primitives", name_);
}

std::string Backend::backward_unsupported_reason() const {
  if (t_.run_backward) return {};
  if (t_.api_version < 2) return fmt::format("backend '{}' speaks plugin ABI v1, which has no backward entry", name_);
  return fmt::format("backend '{}' declares no backward entry", name_);
}

std::string Backend::unsupported_reason(const char* variant, const ab_attention_args& args) const {
  if (std::string why = v2_args_reason(args); !why.empty()) return why;
  const ab_status s = t_.supports(ctx_, variant, &args);
  if (s == AB_OK) return {};
  const char* why = t_.last_error(ctx_);
  return why && *why ? why : status_name(s);
}

ab_buffer Backend::alloc(size_t bytes) {
  ab_buffer b = nullptr;
  check(t_.alloc(ctx_, bytes, &b), "alloc");
  return b;
}
void Backend::release(ab_buffer b) noexcept { t_.release(ctx_, b); }
void Backend::upload(ab_buffer dst, const void* src, size_t bytes) { check(t_.upload(ctx_, dst, src, bytes), "upload"); }
void Backend::download(void* dst, ab_buffer src, size_t bytes) { check(t_.download(ctx_, dst, src, bytes), "download"); }
void Backend::fill(ab_buffer dst, uint8_t byte, size_t bytes) { check(t_.fill(ctx_, dst, byte, bytes), "fill"); }

double Backend::run(const char* variant, const ab_attention_args& args) {
  if (std::string why = v2_args_reason(args); !why.empty()) throw BackendError(AB_UNSUPPORTED, why);
  double seconds = 0;
  check(t_.run_attention(ctx_, variant, &args, &seconds), "run");
  return seconds;
}

double Backend::run_backward(const char* variant, const ab_backward_args& args) {
  if (std::string why = backward_unsupported_reason(); !why.empty()) throw BackendError(AB_UNSUPPORTED, why);
  double seconds = 0;
  check(t_.run_backward(ctx_, variant, &args, &seconds), "run_backward");
  return seconds;
}

void Backend::memory_info(uint64_t& free_bytes, uint64_t& total_bytes) {
  if (t_.memory_info) {
    check(t_.memory_info(ctx_, &free_bytes, &total_bytes), "memory_info");
    return;
  }
  free_bytes = total_bytes = info_.memory_bytes;
}

ab_peaks Backend::measure_peaks() {
  ab_peaks p{};
  check(t_.measure_peaks(ctx_, &p), "measure_peaks");
  return p;
}

}  // namespace attnbench
