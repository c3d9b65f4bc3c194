#include "report_json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "case_stats.h"

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

/// A metric value at the 7 significant digits a page can use (it shows 3 or 4); the
/// shortest round-trip form of a full double doubles the bytes of every metric.
/// Absent or non-finite values are JSON null. `attnbench export` keeps full precision.
json page_number(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", *v);
  double rounded = std::strtod(text, nullptr);
  // Integral values print without ".0" (counts, byte sizes).
  if (std::fabs(rounded) < 9.0e15 && rounded == std::trunc(rounded))
    return static_cast<int64_t>(rounded);
  return rounded;
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
  // spread, so it keeps their count. The case key is left out: it is
  // suite|backend|config|shape, all of which are here. Values at 7 digits, the
  // suite tables drawn from this JSON in the page (not repeated as HTML) and no case
  // key keep the quick suites' page under 1 MB.
  json cases = json::array();
  json units = json::object();
  for (const CaseResult& c : data.cases) {
    json metrics = json::object();
    for (const Metric& m : c.metrics) {
      metrics[m.name] = page_number(m.value);
      if (!units.contains(m.name)) units[m.name] = m.unit;
    }
    json one = {{"id", c.id},         {"suite", c.suite},   {"phase", c.phase},
                {"backend", c.backend}, {"device", c.device},   {"variant", c.variant}, {"config", c.config},
                {"dtype", c.dtype},   {"shape", c.shape},       {"status", c.status}};
    if (!c.message.empty()) one["message"] = c.message;
    if (c.flops) one["flops"] = page_number(c.flops);
    if (c.bytes) one["bytes"] = page_number(c.bytes);
    one["repetitions"] = c.samples.size();
    // The table's time columns fall back to the samples where the aggregate metrics are
    // missing (older or partly written runs); the page gets those values, not the samples.
    if (!c.metric_value("time_median"))
      if (auto med = median_seconds(c)) one["median_seconds"] = page_number(med);
    if (!c.metric_value("time_mad"))
      if (auto mad = mad_seconds(c)) one["mad_seconds"] = page_number(mad);
    one["metrics"] = std::move(metrics);
    cases.push_back(std::move(one));
  }
  return {{"schema", "attnbench-report-data/3"},
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
