// The supervisor half of a run: one or more worker processes per backend, each on
// one device, fed the planned cases one at a time. The supervisor alone writes the
// database. A worker that dies leaves its case stored as `crashed` (the signal or
// exit status and the worker's last output in the message), one that runs past the
// case's limit is killed and its case stored as `timeout`; either way a fresh
// worker takes the next case.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attnbench/plugin_abi.h"
#include "case_spec.h"
#include "results_store.h"
#include "worker_process.h"

namespace attnbench {

/// One backend of the run as the supervisor sees it.
struct SupervisedBackend {
  std::string name;
  std::string plugin_path;  ///< empty when no plugin of this name is loaded (KV recall cases only)
  int devices = 1;          ///< devices the plugin reports; workers cycle over them
  int workers = 1;
  ab_peaks peaks{};
  std::string device_name = "none", driver;
};

/// What the supervisor needs from the run.
struct SupervisorConfig {
  std::string worker_exe;        ///< executable with the `worker` subcommand
  std::string selection_json;    ///< the resolved selection the workers plan from
  std::string suites_dir;
  std::vector<std::string> available;
  double case_timeout = 0;       ///< --case-timeout (0: per-case default)
  std::chrono::seconds open_timeout{180};   ///< plugin load, device open and planning
  std::chrono::seconds peaks_timeout{600};
  std::string input_cache_dir;   ///< folder the workers share generated inputs in (input_file.h); empty: none
  std::function<void(const std::string&)> progress;
};

/// Runs cases in workers. Construct, start() (may throw std::invalid_argument for bad
/// backend options before anything is stored), measure_peaks(), then run().
class RunSupervisor {
 public:
  RunSupervisor(SupervisorConfig config, std::vector<SupervisedBackend> backends);
  ~RunSupervisor();

  /// Starts every worker and opens its device. Throws std::invalid_argument when a
  /// backend refuses its options; other start failures are kept and recorded on the
  /// first case the worker would have run.
  void start();
  /// The backends with the device names and drivers the workers reported.
  const std::vector<SupervisedBackend>& backends() const { return backends_; }
  /// Measures each backend's peaks in its first worker and shares them with the others.
  /// `store_peak(backend, peaks)` is called for each backend measured.
  void measure_peaks(const std::function<void(const SupervisedBackend&)>& stored);
  /// Runs `cases` (each on its own backend) and hands every record to `store` as it
  /// arrives. `store` may throw; the workers are killed and the exception propagates.
  void run(const std::vector<const CaseSpec*>& cases, const std::function<void(const CaseSpec&, store::CaseRecord)>& store);
  /// Runs one case in the first worker of its backend and waits for its record (crashed
  /// and timeout included). `overrides` go with the request: {"repetitions": n} and
  /// {"check": false} let an interleaved A/B run take one repetition at a time.
  store::CaseRecord run_one(const CaseSpec& c, const nlohmann::json& overrides);
  /// Replaces every worker by a fresh process (opened concurrently, as in start()). An
  /// A/B run does this between pairs: a process's own memory layout, thread placement
  /// and code addresses bias every repetition it times alike, and only a new process
  /// draws them anew. A worker that fails to reopen reports it on its next case.
  void restart_workers();

 private:
  struct Worker;
  bool ensure_started(Worker& w, std::string& failure_status, std::string& failure_message);
  void begin_open(Worker& w);
  /// Sends `c` to `w`; false (with the failure handed to `store`) if no worker could start.
  bool dispatch(Worker& w, const CaseSpec& c, const nlohmann::json& overrides,
                const std::function<void(const CaseSpec&, store::CaseRecord)>& store);
  /// The record of `w`'s case once it answered, died (`ready` is its process) or ran
  /// past its deadline; nullopt while it is still running.
  std::optional<store::CaseRecord> settle(Worker& w, const worker::WorkerProcess* ready, worker::Clock::time_point now);
  bool finish_open(Worker& w, std::string& failure_status, std::string& failure_message);
  store::CaseRecord failure_record(const CaseSpec& c, const Worker& w, const std::string& status,
                                   const std::string& message, double seconds) const;

  SupervisorConfig config_;
  std::vector<SupervisedBackend> backends_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace attnbench
