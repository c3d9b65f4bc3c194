// Messages between the run supervisor and its worker processes: one JSON object per
// line on a pipe. Only descriptions cross it (the selection, a case key, the record
// a case produced), never tensors: a worker regenerates its inputs from (seed, case).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "attnbench/plugin_abi.h"
#include "results_store.h"

namespace attnbench::worker {

/// Sent first to every worker: which backend device to open and the run's plan.
struct OpenRequest {
  std::string backend;       ///< backend name ("cpu", "cuda", ...)
  std::string plugin_path;   ///< plugin file to load; empty when the backend has none loaded
  int device = 0;            ///< device index within the plugin
  std::string selection;     ///< resolved RunSelection as JSON (the worker plans the same cases)
  std::string suites_dir;
  std::vector<std::string> available;  ///< backend names the supervisor planned against
  std::optional<ab_peaks> peaks;       ///< peaks already measured this run (set for restarted workers)
  std::string input_cache_dir;         ///< folder where workers share generated inputs; empty: none
};

/// The worker's answer to an OpenRequest.
struct OpenReply {
  std::string error;            ///< non-empty: the worker could not start (message as shown to the user)
  bool invalid_argument = false;///< the error is bad input (exit 2), e.g. unknown backend options
  std::string device_name;      ///< "none" without a device
  std::string driver;
  uint64_t memory_bytes = 0;
  std::string no_device_reason; ///< why there is no device (cases are stored as no_device)
};

nlohmann::json to_json(const OpenRequest& r);
OpenRequest open_request_from_json(const nlohmann::json& j);
nlohmann::json to_json(const OpenReply& r);
OpenReply open_reply_from_json(const nlohmann::json& j);

nlohmann::json to_json(const ab_peaks& p);
ab_peaks peaks_from_json(const nlohmann::json& j);

/// A case record as JSON. Non-finite numbers (a NaN error metric) travel as strings,
/// since JSON has no NaN and nlohmann would turn them into null.
nlohmann::json to_json(const store::CaseRecord& r);
store::CaseRecord case_record_from_json(const nlohmann::json& j);

/// Writes `j` as one line to `fd`; false if the other side is gone.
bool write_message(int fd, const nlohmann::json& j);

/// Splits a byte stream into lines: feed() what read() returned, then take whole lines.
class LineBuffer {
 public:
  void feed(const char* data, size_t n) { pending_.append(data, n); }
  /// The next complete line (without '\n'), if any.
  std::optional<std::string> next_line();
  /// Whatever is left without a final newline (a dying worker's last words).
  const std::string& rest() const { return pending_; }

 private:
  std::string pending_;
};

/// Reads one line from a blocking fd (the worker's side of the pipe); nullopt at EOF.
std::optional<std::string> read_line_blocking(int fd, LineBuffer& buf);

}  // namespace attnbench::worker
