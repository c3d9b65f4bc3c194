#include "report_json.h"

namespace attnbench::reports {

namespace {

using nlohmann::json;

/// Parses a stored JSON column; text that is not JSON stays a string, so a
/// hand-edited database still renders.
json embedded_json(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json(text) : j;
}

template <typename T>
json optional_value(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

json run_to_json(const RunData& data) {
  const RunInfo& r = data.run;
  json run = {{"id", r.id},
              {"started_at", r.started_at},
              {"finished_at", r.finished_at},
              {"status", r.status},
              {"git_sha", r.git_sha},
              {"build_type", r.build_type},
              {"compiler", r.compiler},
              {"compile_flags", r.compile_flags},
              {"library_versions", embedded_json(r.library_versions)},
              {"host", r.host},
              {"os", r.os},
              {"cpu", r.cpu},
              {"gpu", r.gpu},
              {"driver", r.driver},
              {"command_line", r.command_line},
              {"seed", r.seed},
              {"quick", r.quick},
              {"selection", embedded_json(r.selection)}};
  if (!r.campaign.empty()) {
    run["campaign"] = r.campaign;
    run["campaign_runs"] = r.campaign_runs;
  }

  json peaks = json::array();
  for (const MachinePeak& p : data.peaks)
    peaks.push_back({{"backend", p.backend},
                     {"device", p.device},
                     {"name", p.name},
                     {"value", p.value},
                     {"unit", p.unit}});

  // What the page shows of each case, not the raw record: identity, status, models and
  // metric values (units once, in metric_units). Per-repetition samples stay in the
  // database and in `attnbench export --format json`; the page shows their median and
  // spread, so it keeps their count. This kept the quick suites' page under 1 MB.
  json cases = json::array();
  json units = json::object();
  for (const CaseResult& c : data.cases) {
    json metrics = json::object();
    for (const Metric& m : c.metrics) {
      metrics[m.name] = optional_value(m.value);
      if (!units.contains(m.name)) units[m.name] = m.unit;
    }
    json one = {{"id", c.id},         {"case_key", c.case_key}, {"suite", c.suite},   {"phase", c.phase},
                {"backend", c.backend}, {"device", c.device},   {"variant", c.variant}, {"config", c.config},
                {"dtype", c.dtype},   {"shape", c.shape},       {"status", c.status}};
    if (!c.message.empty()) one["message"] = c.message;
    if (c.flops) one["flops"] = *c.flops;
    if (c.bytes) one["bytes"] = *c.bytes;
    one["repetitions"] = c.samples.size();
    one["metrics"] = std::move(metrics);
    cases.push_back(std::move(one));
  }
  return {{"schema", "attnbench-report-data/2"},
          {"run", std::move(run)},
          {"machine_peaks", std::move(peaks)},
          {"metric_units", std::move(units)},
          {"cases", std::move(cases)}};
}

std::string json_for_script(const json& j) {
  std::string text = j.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + 64);
  for (char c : text) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace attnbench::reports
