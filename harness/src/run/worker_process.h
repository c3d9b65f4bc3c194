// The supervisor's handle on one worker process: `attnbench worker` started from
// this very executable in its own process group, requests on its fd 3, answers on
// its fd 4, stdout and stderr captured (the last lines are kept for crash reports).
// The worker dies with the supervisor (PR_SET_PDEATHSIG), so a killed run leaves
// no orphan holding a device.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "worker_protocol.h"

namespace attnbench::worker {

using Clock = std::chrono::steady_clock;

class WorkerProcess {
 public:
  /// Starts `exe worker --parent <this pid>`. Throws std::runtime_error if it cannot.
  static std::unique_ptr<WorkerProcess> spawn(const std::string& exe);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  /// Sends one request; false if the worker is gone.
  bool send(const nlohmann::json& request);
  /// A complete answer already read, if any (call after wait_any or await).
  std::optional<nlohmann::json> take_message();
  bool has_message() const { return !messages_.empty(); }
  /// True once the worker's answer pipe has closed (it exited or was killed).
  bool gone() const { return response_fd_ < 0; }
  /// Kills the whole process group with SIGKILL and reaps the worker.
  void kill();
  /// Closes the request pipe and waits up to `grace` for a clean exit, then kills.
  void shut_down(std::chrono::milliseconds grace);
  /// How the worker ended, e.g. "killed by signal SIGSEGV (Segmentation fault)" or
  /// "exited with status 3". Reaps it first if needed (waits for it to end).
  std::string exit_description();
  /// The last `lines` lines the worker wrote to stdout or stderr, joined by " | ".
  std::string output_tail(size_t lines = 8) const;
  /// Exit status as waitpid reports it, once reaped.
  std::optional<int> wait_status() const { return wait_status_; }

  /// Reads whatever is available without blocking (answers and output).
  void pump();
  /// File descriptors to poll for readability (answer pipe first while open).
  std::vector<int> poll_fds() const;

 private:
  WorkerProcess() = default;
  void reap(bool block);
  void read_output(int fd);

  pid_t pid_ = -1;
  int request_fd_ = -1, response_fd_ = -1, output_fd_ = -1;
  LineBuffer responses_, output_;
  std::deque<std::string> output_lines_;
  std::deque<nlohmann::json> messages_;
  std::optional<int> wait_status_;
};

/// Waits until one of `workers` has an answer ready or has gone, or until `deadline`.
/// Returns that worker, or nullptr at the deadline.
WorkerProcess* wait_any(const std::vector<WorkerProcess*>& workers, Clock::time_point deadline);

/// Waits for one answer from `w` until `deadline`; nullopt if it died or the time ran out
/// (tell the two apart with gone()).
std::optional<nlohmann::json> await(WorkerProcess& w, Clock::time_point deadline);

/// Path of the running executable (/proc/self/exe).
std::string self_executable();

}  // namespace attnbench::worker
