#include "run_supervisor.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <map>
#include <stdexcept>

#include "case_executor.h"
#include "case_timeout.h"

namespace attnbench {

using worker::Clock;
using worker::WorkerProcess;

struct RunSupervisor::Worker {
  size_t backend = 0;  // index into backends_
  int device = 0;
  std::unique_ptr<WorkerProcess> proc;
  bool opened = false;
  Clock::time_point open_deadline;
  // A failure from start(), reported on the first case this worker would have run.
  std::string pending_status, pending_message;
  // The case in flight.
  const CaseSpec* busy = nullptr;
  Clock::time_point started, deadline;
  double limit = 0;
};

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string with_output(std::string message, const WorkerProcess& p) {
  const std::string tail = p.output_tail();
  if (!tail.empty()) message += "; last output: " + tail;
  return message;
}

}  // namespace

RunSupervisor::RunSupervisor(SupervisorConfig config, std::vector<SupervisedBackend> backends)
    : config_(std::move(config)), backends_(std::move(backends)) {
  for (size_t b = 0; b < backends_.size(); ++b)
    for (int i = 0; i < std::max(1, backends_[b].workers); ++i) {
      auto w = std::make_unique<Worker>();
      w->backend = b;
      w->device = i % std::max(1, backends_[b].devices);
      workers_.push_back(std::move(w));
    }
}

RunSupervisor::~RunSupervisor() {
  for (auto& w : workers_)
    if (w->proc) {
      w->proc->shut_down(std::chrono::seconds(10));
      const auto status = w->proc->wait_status();
      // A worker that fails on its way out (a sanitizer's leak report, a plugin's
      // destructor) did its cases' work; say so rather than stay silent.
      if (status && *status != 0 && config_.progress)
        config_.progress(with_output(fmt::format("note: the {} worker {} at shutdown", backends_[w->backend].name,
                                                 w->proc->exit_description()),
                                     *w->proc));
    }
}

void RunSupervisor::begin_open(Worker& w) {
  const SupervisedBackend& b = backends_[w.backend];
  w.proc = WorkerProcess::spawn(config_.worker_exe);
  w.opened = false;
  worker::OpenRequest req;
  req.backend = b.name;
  req.plugin_path = b.plugin_path;
  req.device = w.device;
  req.selection = config_.selection_json;
  req.suites_dir = config_.suites_dir;
  req.available = config_.available;
  req.input_cache_dir = config_.input_cache_dir;
  if (b.peaks.flops_f32 > 0 || b.peaks.bytes_per_second > 0) req.peaks = b.peaks;
  w.proc->send(worker::to_json(req));
  w.open_deadline = Clock::now() + config_.open_timeout;
}

bool RunSupervisor::finish_open(Worker& w, std::string& status, std::string& message) {
  SupervisedBackend& b = backends_[w.backend];
  const auto reply = worker::await(*w.proc, w.open_deadline);
  if (!reply) {
    if (w.proc->gone()) {
      status = "crashed";
      message = with_output(fmt::format("worker {} while opening backend '{}' (before the case ran)",
                                        w.proc->exit_description(), b.name),
                            *w.proc);
    } else {
      w.proc->kill();
      status = "timeout";
      message = with_output(
          fmt::format("worker did not open backend '{}' within {} s and was killed", b.name, config_.open_timeout.count()),
          *w.proc);
    }
    w.proc.reset();
    return false;
  }
  try {
    const worker::OpenReply r = worker::open_reply_from_json(*reply);
    if (!r.error.empty()) {
      if (r.invalid_argument) throw std::invalid_argument(r.error);
      status = "error";
      message = r.error;
      w.proc->shut_down(std::chrono::seconds(2));
      w.proc.reset();
      return false;
    }
    b.device_name = r.device_name;
    if (!r.driver.empty()) b.driver = r.driver;
  } catch (const nlohmann::json::exception& e) {
    status = "error";
    message = fmt::format("worker answered the open request with an unreadable message: {}", e.what());
    w.proc->kill();
    w.proc.reset();
    return false;
  }
  w.opened = true;
  return true;
}

void RunSupervisor::start() {
  // Open every worker at once (planning and device setup overlap), then collect.
  for (auto& w : workers_) begin_open(*w);
  for (auto& w : workers_) {
    std::string status, message;
    if (!finish_open(*w, status, message)) {
      w->pending_status = status;
      w->pending_message = message;
    }
  }
}

void RunSupervisor::restart_workers() {
  for (auto& w : workers_)
    if (w->proc) {
      w->proc->shut_down(std::chrono::seconds(10));
      w->proc.reset();
    }
  start();
}

bool RunSupervisor::ensure_started(Worker& w, std::string& status, std::string& message) {
  if (w.proc && w.opened && !w.proc->gone()) return true;
  if (!w.pending_status.empty()) {
    status = std::exchange(w.pending_status, "");
    message = std::exchange(w.pending_message, "");
    return false;
  }
  if (w.proc) {
    w.proc->kill();
    w.proc.reset();
  }
  begin_open(w);
  return finish_open(w, status, message);
}

void RunSupervisor::measure_peaks(const std::function<void(const SupervisedBackend&)>& stored) {
  for (size_t b = 0; b < backends_.size(); ++b) {
    SupervisedBackend& be = backends_[b];
    if (be.plugin_path.empty() || be.device_name == "none") continue;
    Worker* first = nullptr;
    for (auto& w : workers_)
      if (w->backend == b && w->proc && w->opened) { first = w.get(); break; }
    if (!first) continue;
    first->proc->send({{"op", "peaks"}});
    const auto reply = worker::await(*first->proc, Clock::now() + config_.peaks_timeout);
    std::string problem;
    if (!reply) {
      problem = first->proc->gone() ? "the worker " + first->proc->exit_description()
                                    : fmt::format("it took longer than {} s", config_.peaks_timeout.count());
      problem = with_output(problem, *first->proc);
      first->proc->kill();
      first->proc.reset();
    } else if (!reply->value("error", std::string("bad answer")).empty()) {
      problem = reply->value("error", std::string("bad answer"));
    } else {
      be.peaks = worker::peaks_from_json(reply->at("peaks"));
    }
    if (!problem.empty()) {
      if (config_.progress) config_.progress(fmt::format("{}: peaks not measured: {}", be.name, problem));
      continue;
    }
    for (auto& w : workers_)
      if (w->backend == b && w.get() != first && w->proc && w->opened)
        w->proc->send({{"op", "set_peaks"}, {"peaks", worker::to_json(be.peaks)}});
    stored(be);
  }
}

store::CaseRecord RunSupervisor::failure_record(const CaseSpec& c, const Worker& w, const std::string& status,
                                                const std::string& message, double seconds) const {
  store::CaseRecord rec = describe_case(c, backends_[w.backend].device_name);
  rec.status = status;
  rec.message = message;
  rec.metrics.push_back({"case_wall_time", seconds, "s"});
  return rec;
}

bool RunSupervisor::dispatch(Worker& w, const CaseSpec& c, const nlohmann::json& overrides,
                             const std::function<void(const CaseSpec&, store::CaseRecord)>& store) {
  const auto t0 = Clock::now();
  std::string status, message;
  if (!ensure_started(w, status, message)) {
    store(c, failure_record(c, w, status, message, seconds_between(t0, Clock::now())));
    return false;
  }
  w.limit = case_timeout_seconds(c, backends_[w.backend].peaks, config_.case_timeout);
  w.started = Clock::now();
  w.deadline = w.started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(w.limit));
  w.busy = &c;
  nlohmann::json request = overrides;
  request["op"] = "case";
  request["key"] = c.key();
  // A worker that died between cases shows up as gone in the wait that follows.
  w.proc->send(request);
  return true;
}

std::optional<store::CaseRecord> RunSupervisor::settle(Worker& w, const WorkerProcess* ready, Clock::time_point now) {
  const CaseSpec& c = *w.busy;
  if (ready == w.proc.get()) {
    w.busy = nullptr;
    if (auto msg = w.proc->take_message()) {
      if (msg->value("op", "") != "result")
        return failure_record(c, w, "error", msg->value("message", msg->dump()), seconds_between(w.started, now));
      try {
        return worker::case_record_from_json(msg->at("record"));
      } catch (const nlohmann::json::exception& e) {
        return failure_record(c, w, "error", fmt::format("unreadable result from the worker: {}", e.what()),
                              seconds_between(w.started, now));
      }
    }
    // Gone without answering: the case took the worker down.
    const std::string message =
        with_output(fmt::format("worker {} while running the case", w.proc->exit_description()), *w.proc);
    w.proc.reset();
    return failure_record(c, w, "crashed", message, seconds_between(w.started, now));
  }
  if (now < w.deadline) return std::nullopt;
  w.proc->kill();
  const std::string message = with_output(
      fmt::format("case ran past its {:.0f} s limit (--case-timeout) and its worker was killed", w.limit), *w.proc);
  w.proc.reset();
  w.busy = nullptr;
  return failure_record(c, w, "timeout", message, seconds_between(w.started, now));
}

void RunSupervisor::run(const std::vector<const CaseSpec*>& cases,
                        const std::function<void(const CaseSpec&, store::CaseRecord)>& store) {
  std::map<std::string, size_t> backend_index;
  for (size_t b = 0; b < backends_.size(); ++b) backend_index[backends_[b].name] = b;
  std::vector<std::deque<const CaseSpec*>> queues(backends_.size());
  for (const CaseSpec* c : cases) {
    const auto it = backend_index.find(c->backend);
    if (it == backend_index.end()) throw std::logic_error("case planned on a backend without workers: " + c->backend);
    queues[it->second].push_back(c);
  }
  while (true) {
    for (auto& w : workers_) {
      auto& queue = queues[w->backend];
      while (!w->busy && !queue.empty()) {
        const CaseSpec* c = queue.front();
        queue.pop_front();
        dispatch(*w, *c, nlohmann::json::object(), store);
      }
    }
    std::vector<WorkerProcess*> busy;
    Clock::time_point earliest = Clock::time_point::max();
    for (auto& w : workers_)
      if (w->busy) {
        busy.push_back(w->proc.get());
        earliest = std::min(earliest, w->deadline);
      }
    if (busy.empty()) break;
    const WorkerProcess* ready = worker::wait_any(busy, earliest);
    const auto now = Clock::now();
    for (auto& w : workers_) {
      if (!w->busy) continue;
      const CaseSpec& c = *w->busy;
      if (auto rec = settle(*w, ready, now)) store(c, std::move(*rec));
    }
  }
}

store::CaseRecord RunSupervisor::run_one(const CaseSpec& c, const nlohmann::json& overrides) {
  Worker* w = nullptr;
  for (auto& wp : workers_)
    if (backends_[wp->backend].name == c.backend) { w = wp.get(); break; }
  if (!w) throw std::logic_error("case planned on a backend without workers: " + c.backend);
  std::optional<store::CaseRecord> out;
  const auto keep = [&](const CaseSpec&, store::CaseRecord rec) { out = std::move(rec); };
  if (!dispatch(*w, c, overrides, keep)) return std::move(*out);
  while (!out) {
    const WorkerProcess* ready = worker::wait_any({w->proc.get()}, w->deadline);
    out = settle(*w, ready, Clock::now());
  }
  return std::move(*out);
}

}  // namespace attnbench
