#include "recall_query_agnostic.h"

#include <fmt/format.h>

#include <map>
#include <tuple>

#include "html_escape.h"

namespace attnbench::reports {
namespace {

constexpr std::string_view kSetting = ",compress_before_question=1";

bool agnostic(const CaseResult& c) {
  if (const auto v = c.metric_value("compress_before_question")) return *v != 0;
  return c.shape.find(kSetting) != std::string::npos;
}

struct Sums {
  double acc = 0, mass = 0;
  bool has = false;
};

}  // namespace

std::string shape_without_setting(const std::string& shape) {
  std::string s = shape;
  if (const size_t p = s.find(kSetting); p != std::string::npos) s.erase(p, kSetting.size());
  return s;
}

std::vector<QueryAgnosticRow> query_agnostic_rows(const RunData& data) {
  // (config, backend) -> cell shape -> the two settings.
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::pair<Sums, Sums>>> cells;
  for (const CaseResult& c : data.cases) {
    if (c.status != "ok" || !c.config.starts_with("kv=")) continue;
    const auto acc = c.metric_value("recall_accuracy");
    if (!acc) continue;
    auto& both = cells[{c.config, c.backend}][shape_without_setting(c.shape)];
    Sums& s = agnostic(c) ? both.second : both.first;
    s.acc = *acc, s.mass = c.metric_value("attention_mass_kept").value_or(0.0), s.has = true;
  }
  std::vector<QueryAgnosticRow> rows;
  for (const auto& [key, shapes] : cells) {
    QueryAgnosticRow r;
    r.config = key.first, r.backend = key.second;
    for (const auto& [shape, both] : shapes) {
      if (!both.first.has || !both.second.has) continue;
      ++r.pairs;
      r.accuracy_aware += both.first.acc, r.accuracy_agnostic += both.second.acc;
      r.mass_aware += both.first.mass, r.mass_agnostic += both.second.mass;
    }
    if (r.pairs == 0) continue;
    const double n = static_cast<double>(r.pairs);
    r.accuracy_aware /= n, r.accuracy_agnostic /= n, r.mass_aware /= n, r.mass_agnostic /= n;
    rows.push_back(r);
  }
  return rows;
}

std::string render_query_agnostic_table(const RunData& data) {
  const auto rows = query_agnostic_rows(data);
  if (rows.empty()) return {};
  std::string out =
      "<div id=\"recall-query-agnostic\"><h3>Query-aware vs query-agnostic compression</h3>"
      "<p class=\"note\">Each KV config on the cells it ran in both settings: compressed with the "
      "question in the observation window (query-aware) and from the context alone, the questions "
      "arriving after compression (query-agnostic, <code>compress_before_question</code>). Means "
      "over the paired cells.</p><table class=\"sortable\"><thead><tr><th>config</th><th>backend</th>"
      "<th>cells</th><th>accuracy aware</th><th>accuracy agnostic</th><th>mass kept aware</th>"
      "<th>mass kept agnostic</th></tr></thead><tbody>";
  for (const auto& r : rows)
    out += fmt::format(
        "<tr data-config=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td><td>{3:.3f}</td><td>{4:.3f}</td>"
        "<td>{5:.3f}</td><td>{6:.3f}</td></tr>",
        html_escape(r.config), html_escape(r.backend), r.pairs, r.accuracy_aware, r.accuracy_agnostic, r.mass_aware,
        r.mass_agnostic);
  return out + "</tbody></table></div>";
}

}  // namespace attnbench::reports
