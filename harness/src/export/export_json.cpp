// The "json" export format (see to_json in export_results.h).
#include <nlohmann/json.hpp>

#include <cmath>

#include "export_results.h"

namespace attnbench::exporter {
namespace {

// Keys in insertion order: identity first, as a reader expects (and as Google Benchmark writes).
using json = nlohmann::ordered_json;

/// Sets obj[key] = v, or null plus obj[key + "_nonfinite"] naming what v was.
void put_number(json& obj, const std::string& key, double v) {
  if (std::isfinite(v)) {
    obj[key] = v;
    return;
  }
  obj[key] = nullptr;
  obj[key + "_nonfinite"] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

/// Stored JSON text (library versions, selection, target) as JSON; kept as a string if it does not parse.
json embedded(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json(text) : j;
}

json run_json(const store::RunRecord& r) {
  return {{"id", r.id},
          {"started_at", r.started_at},
          {"finished_at", r.finished_at.empty() ? json(nullptr) : json(r.finished_at)},
          {"status", r.status},
          {"git_sha", r.git_sha},
          {"build_type", r.build_type},
          {"compiler", r.compiler},
          {"compile_flags", r.compile_flags},
          {"library_versions", embedded(r.library_versions)},
          {"host", r.host},
          {"os", r.os},
          {"cpu", r.cpu},
          {"gpu", r.gpu},
          {"driver", r.driver},
          {"command_line", r.command_line},
          {"seed", r.seed},
          {"quick", r.quick},
          {"selection", embedded(r.selection)}};
}

json case_json(const store::CaseRecord& c) {
  json j = {{"case_key", c.case_key}, {"suite", c.suite},     {"suite_file_hash", c.suite_file_hash},
            {"group", c.group},       {"phase", c.phase},     {"backend", c.backend},
            {"device", c.device},     {"variant", c.variant}, {"config", c.config},
            {"dtype", c.dtype},       {"shape", c.shape},     {"batch", c.batch},
            {"heads_q", c.heads_q},   {"heads_kv", c.heads_kv}, {"len_q", c.len_q},
            {"len_k", c.len_k},       {"head_dim", c.head_dim}, {"page_size", c.page_size},
            {"target", embedded(c.target)}, {"status", c.status}, {"message", c.message}};
  if (c.flops) put_number(j, "flops", *c.flops); else j["flops"] = nullptr;
  if (c.bytes) put_number(j, "bytes", *c.bytes); else j["bytes"] = nullptr;
  json samples = json::array();
  for (const auto& s : c.samples) {
    json x = {{"repetition", s.repetition}, {"iterations", s.iterations}};
    put_number(x, "seconds", s.seconds);
    samples.push_back(std::move(x));
  }
  json metrics = json::object();
  for (const auto& m : c.metrics) {
    json x = {{"unit", m.unit}};
    put_number(x, "value", m.value);
    metrics[m.name] = std::move(x);
  }
  j["samples"] = std::move(samples);
  j["metrics"] = std::move(metrics);
  return j;
}

}  // namespace

std::string to_json(const ExportRun& r) {
  json peaks = json::array();
  for (const auto& p : r.peaks) {
    json x = {{"backend", p.backend}, {"device", p.device}, {"name", p.name}, {"unit", p.unit}};
    put_number(x, "value", p.value);
    peaks.push_back(std::move(x));
  }
  json cases = json::array();
  for (const auto& c : r.cases) cases.push_back(case_json(c));
  const json out = {{"format", "attnbench-export"}, {"format_version", 1}, {"run", run_json(r.run)},
                    {"machine_peaks", std::move(peaks)}, {"cases", std::move(cases)}};
  // Messages quote worker output, which need not be UTF-8: replace bad bytes, never throw.
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace attnbench::exporter
