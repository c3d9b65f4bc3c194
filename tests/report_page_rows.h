// Reads which cases a rendered report's suite tables list: each table names them by
// position in the embedded JSON's "cases" array (data-case-rows="0-1,4-5,2-3"), and
// the page script draws those rows.
#pragma once

#include <string>
#include <vector>

namespace report_test {

/// Every position listed by every suite table of `html`, in page order.
inline std::vector<size_t> case_row_positions(const std::string& html) {
  static const std::string kAttr = "data-case-rows=\"";
  std::vector<size_t> out;
  for (size_t at = 0; (at = html.find(kAttr, at)) != std::string::npos;) {
    at += kAttr.size();
    const std::string rows = html.substr(at, html.find('"', at) - at);
    for (size_t p = 0; p < rows.size();) {
      const size_t comma = std::min(rows.find(',', p), rows.size());
      const std::string run = rows.substr(p, comma - p);
      const size_t dash = run.find('-');
      const size_t first = std::stoul(run), last = dash == std::string::npos ? first : std::stoul(run.substr(dash + 1));
      for (size_t i = first; i <= last; ++i) out.push_back(i);
      p = comma + 1;
    }
  }
  return out;
}

}  // namespace report_test
