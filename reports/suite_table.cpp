#include "suite_table.h"

#include <fmt/format.h>

namespace attnbench::reports {

namespace {

/// "0-5,9,11-12": positions as runs, so a suite's usually contiguous rows cost a few bytes.
std::string position_ranges(const std::vector<size_t>& positions) {
  std::string out;
  for (size_t i = 0; i < positions.size();) {
    size_t j = i;
    while (j + 1 < positions.size() && positions[j + 1] == positions[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", positions[i]) : fmt::format("{}-{}", positions[i], positions[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace

std::string status_class(const std::string& status) {
  for (const char* known : {"ok", "failed", "unsupported", "no_device", "oom", "error"})
    if (status == known) return status;
  return "other";
}

std::string render_suite_table(const std::vector<const CaseResult*>& cases,
                               const std::vector<CaseResult>& all) {
  std::vector<size_t> positions;
  positions.reserve(cases.size());
  for (const CaseResult* c : cases) positions.push_back(static_cast<size_t>(c - all.data()));
  return fmt::format(
      "<table class=\"results sortable\" data-case-rows=\"{}\"><thead><tr>"
      "<th>Config</th><th>Shape</th><th>dtype</th><th>Backend</th><th>Phase</th>"
      "<th>Status</th><th class=\"num\">Median<br>time</th>"
      "<th class=\"num\" title=\"median absolute deviation of the repetitions\">Spread<br>(MAD)</th>"
      "<th class=\"num\">FLOP/s</th><th class=\"num\">Bytes/s</th>"
      "<th class=\"num\" title=\"fraction of this machine's measured peak FLOP/s\">% peak<br>FLOP/s</th>"
      "<th class=\"num\" title=\"fraction of this machine's measured peak bandwidth\">% peak<br>B/s</th>"
      "<th class=\"num\" title=\"L2 relative error vs the fp64 oracle\">Rel.<br>error</th>"
      "<th>Other metrics</th></tr></thead><tbody></tbody></table>"
      "<noscript><p class=\"note\">The {} rows of this table are drawn by the page's script from "
      "the embedded JSON (<span class=\"mono\">#attnbench-data</span>); "
      "<span class=\"mono\">attnbench export</span> writes them as CSV or JSON.</p></noscript>",
      position_ranges(positions), cases.size());
}

}  // namespace attnbench::reports
