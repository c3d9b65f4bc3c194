// C++ face of one opened backend device: owns the plugin context and turns
// ab_status codes into BackendError exceptions that carry the status. It also hides the
// ABI version: what only v2 carries (head_dim_v != head_dim, lse, backward, KV primitives)
// is answered unsupported for a v1 plugin without calling it.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "attnbench/kv_method_abi.h"
#include "attnbench/plugin_abi.h"
#include "plugin_loader.h"

namespace attnbench {

/// A failed plugin call: the status and the plugin's own message.
class BackendError : public std::runtime_error {
 public:
  BackendError(ab_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  ab_status status() const { return status_; }

 private:
  ab_status status_;
};

/// Short name of a status ("ok", "unsupported", "no_device", "oom", ...), as stored in cases.status.
const char* status_name(ab_status s);

/// An opened device of one plugin.
class Backend {
 public:
  /// Opens `device` of `plugin`; throws BackendError (AB_NO_DEVICE when there is none).
  Backend(const LoadedPlugin& plugin, int device, const std::string& options);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  const std::string& name() const { return name_; }
  const ab_device_info& info() const { return info_; }
  const ab_plugin& table() const { return t_; }
  void* context() const { return ctx_; }
  /// ABI version of the plugin (1: attention only; 2: head_dim_v, lse, backward, KV primitives).
  uint32_t api_version() const { return t_.api_version; }
  /// The plugin's KV primitives (struct_size checked at load), or NULL for a v1 plugin or a
  /// backend that declares none.
  const ab_kv_ops* kv() const { return t_.kv; }
  /// Empty when kv() is non-NULL, else why this backend's KV cases are unsupported.
  std::string kv_unsupported_reason() const;
  /// What KV policies (built-in or plugged in) run against: this opened device.
  ab_kv_env env() const { return ab_kv_env{&t_, ctx_}; }

  /// Empty if `variant` runs these args, else the plugin's reason (or, for a v1 plugin
  /// asked for a v2 field, the harness's own reason without calling the plugin).
  std::string unsupported_reason(const char* variant, const ab_attention_args& args) const;
  ab_buffer alloc(size_t bytes);
  void release(ab_buffer b) noexcept;
  void upload(ab_buffer dst, const void* src, size_t bytes);
  void download(void* dst, ab_buffer src, size_t bytes);
  void fill(ab_buffer dst, uint8_t byte, size_t bytes);
  /// Runs one call; returns the backend-measured kernel seconds. Throws BackendError
  /// (AB_UNSUPPORTED) for v2-only args on a v1 plugin.
  double run(const char* variant, const ab_attention_args& args);
  /// Empty if the backend has a backward entry (it may still refuse a case), else why not.
  std::string backward_unsupported_reason() const;
  /// Runs one backward call; returns the backend-measured kernel seconds. Throws
  /// BackendError (AB_UNSUPPORTED) when the plugin has no backward entry.
  double run_backward(const char* variant, const ab_backward_args& args);
  /// Free and total device memory: memory_info when the plugin has it, else free = total =
  /// device_info's memory_bytes.
  void memory_info(uint64_t& free_bytes, uint64_t& total_bytes);
  ab_peaks measure_peaks();
  /// The (query, key) pairs the last run() weighted, when the backend counts them for
  /// that kernel (call_stats); nullopt otherwise.
  std::optional<uint64_t> attended_pairs();
  /// Evicts the device's caches (--cold): writes `bytes` of a device buffer kept for the
  /// purpose, alternating the byte so no write is a no-op. Throws BackendError (oom when
  /// the buffer does not fit).
  void flush_caches(size_t bytes);

 private:
  void check(ab_status s, const char* what) const;
  /// Why a v1 plugin cannot take these args (empty for v2 plugins and v1-shaped args).
  std::string v2_args_reason(const ab_attention_args& args) const;

  const ab_plugin& t_;
  std::string name_;
  void* ctx_ = nullptr;
  ab_device_info info_{};
  ab_buffer flush_buffer_ = nullptr;  // flush_caches' buffer, released before the context
  size_t flush_bytes_ = 0;
  uint8_t flush_byte_ = 0;
};

/// RAII device buffer.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& backend, size_t bytes) : backend_(&backend), bytes_(bytes), buf_(backend.alloc(bytes)) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : backend_(o.backend_), bytes_(o.bytes_), buf_(o.buf_) { o.buf_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) { reset(); backend_ = o.backend_; bytes_ = o.bytes_; buf_ = o.buf_; o.buf_ = nullptr; }
    return *this;
  }
  ab_buffer get() const { return buf_; }
  size_t bytes() const { return bytes_; }
  void reset() noexcept { if (buf_) backend_->release(buf_); buf_ = nullptr; }

 private:
  Backend* backend_ = nullptr;
  size_t bytes_ = 0;
  ab_buffer buf_ = nullptr;
};

}  // namespace attnbench
