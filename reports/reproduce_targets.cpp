#include "reproduce_targets.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "compare_markdown.h"  // the Markdown escaping compare uses
#include "format_units.h"
#include "html_escape.h"

namespace attnbench::reports {
namespace {

using json = nlohmann::json;

constexpr const char* kDash = "\xE2\x80\x94";

/// Same rule as the suite loader: equal, or the bare name of a parameterised config.
bool selects(const std::string& named, const std::string& config) {
  return config == named || (config.size() > named.size() && config.compare(0, named.size(), named) == 0 &&
                             config[named.size()] == ':' && named.find(':') == std::string::npos);
}

double dtype_bytes(const std::string& dtype) { return dtype == "fp32" ? 4.0 : 2.0; }

/// Bytes of Q, K, V and O of a case: what any implementation must hold.
double io_bytes(const CaseResult& c) {
  const double b = c.batch.value_or(1), d = c.head_dim.value_or(0);
  // Forward: Q, O and K, V. Backward: Q, O, dO, dQ and K, V, dK, dV.
  const double per_row = c.phase == "backward" ? 4.0 : 2.0;
  return dtype_bytes(c.dtype) * d * b *
         (per_row * c.heads_q.value_or(1) * c.len_q.value_or(0) + per_row * c.heads_kv.value_or(1) * c.len_k.value_or(0));
}

const CaseResult* find_baseline(const std::vector<const CaseResult*>& cases, const CaseResult& v,
                                const std::string& config) {
  for (const CaseResult* c : cases)
    if (selects(config, c->config) && c->status == "ok" && c->backend == v.backend && c->dtype == v.dtype &&
        c->shape == v.shape)
      return c;
  return nullptr;
}

std::optional<std::pair<double, double>> range_of(const json& r) {
  if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number()) return std::nullopt;
  return std::make_pair(r[0].get<double>(), r[1].get<double>());
}

void measure(TargetResult& t, const json& spec, const std::vector<const CaseResult*>& cases) {
  const auto expect_for = [&](const std::string& config) -> std::optional<std::pair<double, double>> {
    if (!spec.contains("expect")) return std::nullopt;
    const json& e = spec["expect"];
    if (!e.is_object()) return range_of(e);
    for (const auto& [named, r] : e.items())
      if (selects(named, config)) return range_of(r);
    return std::nullopt;
  };
  const auto add = [&](const CaseResult& c, double value) {
    TargetRow r{c.config, c.backend, c.dtype, c.shape, value, expect_for(c.config), std::nullopt};
    if (r.expect) r.met = value >= r.expect->first && value <= r.expect->second;
    t.rows.push_back(std::move(r));
  };
  if (t.measure == "speedup" || t.measure == "memory_ratio") {
    const std::string variant = spec.value("variant", ""), baseline = spec.value("baseline", "");
    for (const CaseResult* c : cases) {
      if (!selects(variant, c->config) || c->status != "ok") continue;
      const CaseResult* b = find_baseline(cases, *c, baseline);
      if (!b) continue;
      if (t.measure == "speedup") {
        const auto tv = c->metric_value("time_median"), tb = b->metric_value("time_median");
        if (tv && tb && *tv > 0) add(*c, *tb / *tv);
      } else {
        const auto mv = c->metric_value("host_memory_peak_extra"), mb = b->metric_value("host_memory_peak_extra");
        if (mv && mb) add(*c, (io_bytes(*b) + *mb) / (io_bytes(*c) + *mv));
      }
    }
  } else if (t.measure == "metric") {
    const json configs = spec.value("configs", json::array());
    for (const CaseResult* c : cases) {
      const bool named = std::any_of(configs.begin(), configs.end(),
                                     [&](const json& n) { return n.is_string() && selects(n.get<std::string>(), c->config); });
      if (c->status != "ok" || !named) continue;
      if (const auto v = c->metric_value(t.metric)) add(*c, *v);
    }
  }
}

std::string format_value(const TargetResult& t, double v) {
  return t.measure == "metric" ? fmt::format("{:.3g}", v) : fmt::format("{:.2f}x", v);
}

std::string format_range(const TargetResult& t, const std::optional<std::pair<double, double>>& r) {
  if (!r) return kDash;
  return format_value(t, r->first) + " to " + format_value(t, r->second);
}

}  // namespace

std::string TargetResult::verdict() const {
  if (rows.empty()) return "not measured";
  bool any = false;
  for (const TargetRow& r : rows)
    if (r.met) {
      any = true;
      if (!*r.met) return "not reproduced";
    }
  return any ? "reproduced" : "no verdict";
}

std::string TargetResult::measured_text() const {
  if (rows.empty()) return kDash;
  double lo = rows[0].value, hi = rows[0].value;
  for (const TargetRow& r : rows) lo = std::min(lo, r.value), hi = std::max(hi, r.value);
  return lo == hi ? format_value(*this, lo) : format_value(*this, lo) + " to " + format_value(*this, hi);
}

std::vector<TargetResult> reproduction_targets(const RunData& data) {
  std::vector<std::pair<std::string, std::string>> order;  // (suite, group) by first appearance
  std::map<std::pair<std::string, std::string>, std::vector<const CaseResult*>> groups;
  for (const CaseResult& c : data.cases) {
    if (c.target.empty()) continue;
    auto key = std::make_pair(c.suite, c.group);
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(&c);
  }
  std::vector<TargetResult> out;
  for (const auto& key : order) {
    const auto& cases = groups[key];
    // Stored as a list of targets (one group's cases may serve several figures).
    json specs;
    try {
      specs = json::parse(cases.front()->target);
      if (!specs.is_array()) specs = json::array({specs});
    } catch (const json::exception& e) {
      TargetResult t;
      t.suite = key.first, t.group = key.second;
      t.error = fmt::format("unreadable target: {}", e.what());
      out.push_back(std::move(t));
      continue;
    }
    for (const json& spec : specs) {
      TargetResult t;
      t.suite = key.first;
      t.group = key.second;
      try {
        t.source = spec.value("source", "");
        t.claim = spec.value("claim", "");
        t.published = spec.value("published", "");
        t.measure = spec.value("measure", "");
        t.metric = spec.value("metric", "");
        t.note = spec.value("note", "");
        measure(t, spec, cases);
      } catch (const json::exception& e) {
        t.error = fmt::format("unreadable target: {}", e.what());
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::string render_targets_section(const RunData& data) {
  const auto targets = reproduction_targets(data);
  if (targets.empty()) return {};
  std::string out =
      "<section id=\"targets\"><h2>Reproduction targets</h2><p class=\"note\">Published figures that need "
      "no trained model, measured on this machine. Speedup = baseline time / variant time at the same shape; "
      "memory ratio = (Q, K, V, O bytes + peak extra host memory of one call) of the baseline over the "
      "variant's. A target is reproduced when every measured value lies in the range it states.</p>";
  out += "<table class=\"targets sortable\"><thead><tr><th>Source</th><th>Claim</th><th>Published</th>"
         "<th>Measured</th><th>Verdict</th></tr></thead><tbody>";
  for (size_t i = 0; i < targets.size(); ++i) {
    const TargetResult& t = targets[i];
    const std::string verdict = t.error.empty() ? t.verdict() : "error";
    std::string cls = verdict;
    std::replace(cls.begin(), cls.end(), ' ', '-');
    out += fmt::format(
        "<tr><td><a href=\"#target-{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"verdict {}\">{}</td></tr>",
        i, html_escape(t.source), html_escape(t.claim), html_escape(t.published), html_escape(t.measured_text()),
        cls, html_escape(verdict));
  }
  out += "</tbody></table>";
  for (size_t i = 0; i < targets.size(); ++i) {
    const TargetResult& t = targets[i];
    out += fmt::format("<div class=\"target\" id=\"target-{}\"><h3>{}</h3><p class=\"note\">Suite {} \xC2\xB7 group "
                       "<span class=\"mono\">{}</span> \xC2\xB7 measure {}{}{}</p>",
                       i, html_escape(t.source), html_escape(t.suite), html_escape(t.group), html_escape(t.measure),
                       t.metric.empty() ? "" : " of <span class=\"mono\">" + html_escape(t.metric) + "</span>",
                       t.note.empty() ? "" : ". " + html_escape(t.note));
    if (!t.error.empty()) {
      out += "<p class=\"error\">" + html_escape(t.error) + "</p></div>";
      continue;
    }
    out += "<table class=\"target-rows\"><thead><tr><th>Config</th><th>Backend</th><th>Dtype</th><th>Shape</th>"
           "<th>Measured</th><th>Counts as reproduced</th><th>Met</th></tr></thead><tbody>";
    for (const TargetRow& r : t.rows)
      out += fmt::format(
          "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td><td>{}</td></tr>",
          html_escape(r.config), html_escape(r.backend), html_escape(r.dtype), html_escape(r.shape),
          html_escape(format_value(t, r.value)), html_escape(format_range(t, r.expect)),
          !r.met ? kDash : *r.met ? "yes" : "no");
    out += "</tbody></table></div>";
  }
  return out + "</section>";
}

std::string render_targets_markdown(const RunData& data) {
  const auto targets = reproduction_targets(data);
  std::string out = "| Source | Claim | Published | Measured | Verdict |\n|---|---|---|---|---|\n";
  for (const TargetResult& t : targets)
    out += fmt::format("| {} | {} | {} | {} | {} |\n", markdown_text(t.source), markdown_text(t.claim),
                       markdown_text(t.published), markdown_text(t.measured_text()),
                       markdown_text(t.error.empty() ? t.verdict() : "error"));
  return out;
}

}  // namespace attnbench::reports
