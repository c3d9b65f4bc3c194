// C++ face of one opened backend device: owns the plugin context and turns
// ab_status codes into BackendError exceptions that carry the status.
#pragma once

#include <stdexcept>
#include <string>

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

  /// Empty if `variant` runs these args, else the plugin's reason.
  std::string unsupported_reason(const char* variant, const ab_attention_args& args) const;
  ab_buffer alloc(size_t bytes);
  void release(ab_buffer b) noexcept;
  void upload(ab_buffer dst, const void* src, size_t bytes);
  void download(void* dst, ab_buffer src, size_t bytes);
  void fill(ab_buffer dst, uint8_t byte, size_t bytes);
  /// Runs one call; returns the backend-measured kernel seconds.
  double run(const char* variant, const ab_attention_args& args);
  ab_peaks measure_peaks();

 private:
  void check(ab_status s, const char* what) const;

  const ab_plugin& t_;
  std::string name_;
  void* ctx_ = nullptr;
  ab_device_info info_{};
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
