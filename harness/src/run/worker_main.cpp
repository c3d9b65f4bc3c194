#include "worker_main.h"

#include <fmt/format.h>

#include <map>
#include <memory>

#include "case_executor.h"
#include "plugin_loader.h"
#include "runner.h"
#include "worker_protocol.h"

namespace attnbench::worker {
namespace {

using nlohmann::json;

/// Everything a worker holds between requests.
struct WorkerState {
  std::unique_ptr<LoadedPlugin> plugin;
  BackendSlot slot;
  std::map<std::string, CaseSpec> cases;  // this backend's planned cases by key
  uint64_t seed = 1;
  InputCache inputs;
};

/// Loads the plugin, opens the device and plans the cases. Bad input (unknown
/// backend options, a suite that no longer plans) is reported, not thrown.
OpenReply open(const OpenRequest& req, WorkerState& st) {
  OpenReply reply;
  st.slot.name = req.backend;
  try {
    const RunSelection sel = RunSelection::from_json(req.selection);
    st.seed = sel.seed;
    st.inputs.set_shared_dir(req.input_cache_dir);
    for (CaseSpec& c : plan_cases(sel, req.suites_dir, req.available))
      if (c.backend == req.backend) st.cases.emplace(c.key(), std::move(c));
    if (!req.plugin_path.empty()) {
      std::string why;
      st.plugin = load_plugin(req.plugin_path, why);
      if (!st.plugin) throw std::runtime_error(fmt::format("cannot load plugin {}: {}", req.plugin_path, why));
      st.slot.table = &st.plugin->table();
      if (st.plugin->table().device_count() <= req.device) {
        st.slot.no_device_reason = fmt::format("backend '{}' found no device {}", req.backend, req.device);
      } else {
        try {
          st.slot.device = std::make_unique<Backend>(*st.plugin, req.device, sel.backend_options);
        } catch (const BackendError& e) {
          if (e.status() == AB_INVALID_ARGUMENT) throw std::invalid_argument(e.what());
          st.slot.no_device_reason = e.what();
        }
      }
    }
  } catch (const std::invalid_argument& e) {
    reply.error = e.what();
    reply.invalid_argument = true;
    return reply;
  } catch (const std::exception& e) {
    reply.error = e.what();
    return reply;
  }
  if (req.peaks) st.slot.peaks = *req.peaks;
  if (st.slot.device) {
    const ab_device_info& info = st.slot.device->info();
    reply.device_name = info.name;
    reply.driver = info.driver;
    reply.memory_bytes = info.memory_bytes;
  } else {
    reply.device_name = "none";
    reply.no_device_reason = st.slot.no_device_reason;
  }
  return reply;
}

json measure_peaks(WorkerState& st) {
  if (!st.slot.device) return {{"op", "peaks"}, {"error", "no device"}};
  try {
    st.slot.peaks = st.slot.device->measure_peaks();
    return {{"op", "peaks"}, {"error", ""}, {"peaks", to_json(st.slot.peaks)}};
  } catch (const std::exception& e) {
    return {{"op", "peaks"}, {"error", e.what()}};
  }
}

/// Runs the case `req` names. Optional overrides serve interleaved A/B runs, which take
/// one repetition per request: "repetitions" replaces the suite's count, and
/// "check": false skips the oracle comparison (the first request of a case checks).
json run_case(const json& req, WorkerState& st) {
  const std::string key = req.at("key");
  const auto it = st.cases.find(key);
  if (it == st.cases.end())
    return {{"op", "error"}, {"message", fmt::format("worker planned no case '{}' on backend '{}'", key, st.slot.name)}};
  CaseSpec spec = it->second;
  if (req.contains("repetitions")) spec.repetitions = req["repetitions"];
  if (!req.value("check", true)) spec.check = CheckMode::kNone;
  return {{"op", "result"}, {"record", to_json(execute_case(spec, st.slot, st.inputs, st.seed))}};
}

}  // namespace

int serve(int in_fd, int out_fd) {
  WorkerState st;
  LineBuffer buf;
  while (auto line = read_line_blocking(in_fd, buf)) {
    json reply;
    try {
      const json req = json::parse(*line);
      const std::string op = req.at("op");
      if (op == "open") reply = to_json(open(open_request_from_json(req), st));
      else if (op == "peaks") reply = measure_peaks(st);
      else if (op == "set_peaks") { st.slot.peaks = peaks_from_json(req.at("peaks")); continue; }
      else if (op == "case") reply = run_case(req, st);
      else reply = {{"op", "error"}, {"message", "unknown request '" + op + "'"}};
    } catch (const std::exception& e) {
      reply = {{"op", "error"}, {"message", std::string("bad request: ") + e.what()}};
    }
    if (!write_message(out_fd, reply)) return 3;
  }
  return 0;
}

}  // namespace attnbench::worker
