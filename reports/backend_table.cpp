#include "backend_table.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "html_escape.h"

namespace attnbench::reports {

namespace {

// suite, config, dtype, phase, len_k, shape: a config's rows read by growing length.
using RowKey = std::tuple<std::string, std::string, std::string, std::string, int64_t, std::string>;

/// Escaped text that may wrap after each comma (canonical strings are long).
std::string breakable(const std::string& text) {
  std::string out;
  for (char ch : html_escape(text)) {
    out += ch;
    if (ch == ',') out += "<wbr>";
  }
  return out;
}

constexpr const char* kDash = "<td class=\"num none\" data-sort=\"\">\xE2\x80\x94</td>";

}  // namespace

std::string render_backend_table(const RunData& data) {
  std::map<std::string, std::set<std::string>> devices;
  for (const CaseResult& c : data.cases) devices[c.backend].insert(c.device);
  auto column_of = [&](const CaseResult& c) {
    return devices[c.backend].size() > 1 ? c.backend + "@" + c.device : c.backend;
  };

  std::map<RowKey, std::map<std::string, double>> rows;  // key -> column -> median
  for (const CaseResult& c : data.cases) {
    if (c.status != "ok") continue;
    auto t = median_seconds(c);
    if (!t || !(*t > 0)) continue;
    rows[{c.suite, c.config, c.dtype, c.phase, c.len_k.value_or(0), c.shape}][column_of(c)] = *t;
  }
  std::set<std::string> columns;
  for (auto it = rows.begin(); it != rows.end();) {
    if (it->second.size() < 2) {
      it = rows.erase(it);
      continue;
    }
    for (auto& [col, t] : it->second) columns.insert(col);
    ++it;
  }
  if (rows.empty()) return {};
  const std::string& ref = *columns.begin();

  std::string out = "<table class=\"backends sortable\"><thead><tr><th>Suite</th><th>Config</th>"
                    "<th>Shape</th><th>dtype</th><th>Phase</th>";
  for (const std::string& col : columns)
    out += fmt::format("<th class=\"num\">{}<br>median</th>", html_escape(col));
  for (const std::string& col : columns)
    if (col != ref)
      out += fmt::format("<th class=\"num\" title=\"median time on {0} / on {1}\">{0} / {1}</th>",
                         html_escape(col), html_escape(ref));
  out += "</tr></thead><tbody>";
  for (const auto& [key, times] : rows) {
    const auto& [suite, config, dtype, phase, len, shape] = key;
    double best = INFINITY;
    for (auto& [col, t] : times) best = std::min(best, t);
    out += fmt::format("<tr><td>{}</td><td class=\"mono cfg\">{}</td><td class=\"mono shape\">{}</td>"
                       "<td>{}</td><td>{}</td>",
                       html_escape(suite), html_escape(config), breakable(shape),
                       html_escape(dtype), html_escape(phase));
    for (const std::string& col : columns) {
      auto it = times.find(col);
      if (it == times.end()) {
        out += kDash;
        continue;
      }
      out += fmt::format("<td class=\"num{}\" data-sort=\"{:.17g}\">{}</td>",
                         it->second == best ? " best" : "", it->second,
                         html_escape(format_seconds(it->second)));
    }
    auto base = times.find(ref);
    for (const std::string& col : columns) {
      if (col == ref) continue;
      auto it = times.find(col);
      if (it == times.end() || base == times.end()) {
        out += kDash;
        continue;
      }
      double ratio = it->second / base->second;
      out += fmt::format("<td class=\"num ratio {}\" data-sort=\"{:.17g}\">{:.2f}\xC3\x97</td>",
                         ratio < 1 ? "lower" : "higher", ratio, ratio);
    }
    out += "</tr>";
  }
  return out + "</tbody></table>";
}

}  // namespace attnbench::reports
