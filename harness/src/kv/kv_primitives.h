// Thin C++ face of one backend's KV primitives (ab_kv_env + ab_kv_ops): RAII device
// buffers, typed upload/download, and one call per primitive that turns a status into an
// exception (KvUnsupported for a NULL primitive or AB_UNSUPPORTED, KvPrimitiveError
// otherwise) and adds the backend-measured seconds to a running total. Policies and the
// plan executor use only this to reach the backend.
#pragma once

#include <attnbench/kv_method_abi.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kv_policy.h"

namespace attnbench::kv {

/// A failed primitive or buffer call other than AB_UNSUPPORTED; keeps the status.
class KvPrimitiveError : public std::runtime_error {
 public:
  KvPrimitiveError(ab_status s, const std::string& msg) : std::runtime_error(msg), status_(s) {}
  ab_status status() const { return status_; }

 private:
  ab_status status_;
};

/// True when `plugin` carries a v2 table with a KV primitives table (v1 tables end before `kv`).
bool has_kv_primitives(const ab_plugin& plugin);

class KvPrimitives;

/// A device buffer released on destruction.
class KvBuffer {
 public:
  KvBuffer() = default;
  KvBuffer(const ab_kv_env* env, ab_buffer b, size_t bytes) : env_(env), buf_(b), bytes_(bytes) {}
  ~KvBuffer() { reset(); }
  KvBuffer(KvBuffer&& o) noexcept : env_(o.env_), buf_(o.buf_), bytes_(o.bytes_) { o.buf_ = nullptr; }
  KvBuffer& operator=(KvBuffer&& o) noexcept;
  KvBuffer(const KvBuffer&) = delete;
  KvBuffer& operator=(const KvBuffer&) = delete;
  ab_buffer get() const { return buf_; }
  size_t bytes() const { return bytes_; }
  /// Releases the buffer now.
  void reset() noexcept;

 private:
  const ab_kv_env* env_ = nullptr;
  ab_buffer buf_ = nullptr;
  size_t bytes_ = 0;
};

/// The primitives of one opened backend, with the seconds they report summed.
class KvPrimitives {
 public:
  /// Throws KvUnsupported when the backend has no KV primitives.
  explicit KvPrimitives(const ab_kv_env& env);

  /// Device buffer of `bytes` bytes (at least 1, so empty tensors still get a handle).
  KvBuffer alloc(size_t bytes);
  /// Allocates and uploads host data.
  template <typename T>
  KvBuffer upload(const std::vector<T>& host) {
    KvBuffer b = alloc(host.size() * sizeof(T));
    upload_bytes(b.get(), host.data(), host.size() * sizeof(T));
    return b;
  }
  void upload_bytes(ab_buffer dst, const void* src, size_t bytes);
  void download_bytes(void* dst, ab_buffer src, size_t bytes);
  /// Downloads `count` elements of type T.
  template <typename T>
  std::vector<T> download(ab_buffer src, size_t count) {
    std::vector<T> out(count);
    download_bytes(out.data(), src, count * sizeof(T));
    return out;
  }
  /// Sets every byte of dst to `byte`.
  void fill(ab_buffer dst, uint8_t byte, size_t bytes);

  void observation_scores(const ab_kv_score_args& a);
  void statistics(const ab_kv_stat_args& a);
  void topk(const ab_kv_topk_args& a);
  void dot(const ab_kv_dot_args& a);
  void compact(const ab_kv_compact_args& a);
  size_t quant_bytes(const ab_kv_quant_args& a);
  void quantize(const ab_kv_quant_args& a);
  void quant_decode(const ab_kv_quant_decode_args& a);
  /// run_attention of the plugin (the executor's decode over compacted caches).
  void attention(const char* variant, const ab_attention_args& a);

  /// Top-k of every row of a device score buffer [rows, n]: ascending positions per row.
  std::vector<std::vector<int32_t>> topk_rows(ab_buffer scores, int32_t rows, int32_t n, int32_t k,
                                              int32_t force_head = 0, int32_t force_tail = 0);

  /// Backend-measured seconds of every primitive called so far.
  double seconds() const { return seconds_; }
  const ab_kv_env& env() const { return env_; }

 private:
  /// Throws for a failed call named `what`; adds `s` seconds otherwise.
  void check(ab_status st, const char* what, double s);
  [[noreturn]] void missing(const char* what) const;

  ab_kv_env env_;
  const ab_kv_ops* ops_ = nullptr;
  double seconds_ = 0;
};

}  // namespace attnbench::kv
