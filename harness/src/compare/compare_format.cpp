#include "compare_format.h"

#include <fmt/format.h>

#include <algorithm>

#include "compare_markdown.h"

namespace attnbench::compare {
namespace {

/// Display order: what needs attention first.
int severity(Verdict v) {
  switch (v) {
    case Verdict::regression: return 0;
    case Verdict::not_comparable: return 1;
    case Verdict::only_base: return 2;
    case Verdict::only_cand: return 3;
    case Verdict::improvement: return 4;
    case Verdict::pass: return 5;
  }
  return 6;
}

std::vector<const CaseComparison*> ordered(const Comparison& c) {
  std::vector<const CaseComparison*> rows;
  for (const auto& x : c.cases) rows.push_back(&x);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto* a, const auto* b) { return severity(a->verdict) < severity(b->verdict); });
  return rows;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string run_label(const store::RunRecord& r) {
  return fmt::format("run {} ({}{})", r.id, r.git_sha.empty() ? "unknown sha" : r.git_sha.substr(0, 12),
                     r.host.empty() ? "" : ", " + r.host);
}

std::string md_table(const std::vector<const CaseComparison*>& rows) {
  std::string out = "| verdict | case | time cand/base [CI] | details |\n|---|---|---|---|\n";
  for (const auto* r : rows)
    out += fmt::format("| {} | {} | {} | {} |\n", verdict_name(r->verdict), markdown_code(r->case_key),
                       markdown_text(time_cell(*r)), markdown_text(join(r->reasons, "; ")));
  return out;
}

}  // namespace

std::string time_cell(const CaseComparison& c) {
  if (!c.time || c.time->n_base == 0 || c.time->n_cand == 0) return "-";
  const TimeComparison& t = *c.time;
  std::string s = fmt::format("x{:.3f}", t.ratio);
  if (t.ratio_ci) s += fmt::format(" [{:.3f}, {:.3f}]", t.ratio_ci->lo, t.ratio_ci->hi);
  return s + fmt::format(" p={:.3g}", t.test.p_value);
}

std::string summary_line(const Comparison& c) {
  return fmt::format(
      "{} vs {}: {} cases: {} regressions, {} improvements, {} pass, {} not comparable, {} only in base, "
      "{} only in candidate",
      run_label(c.base), run_label(c.cand), c.cases.size(), c.count(Verdict::regression), c.count(Verdict::improvement),
      c.count(Verdict::pass), c.count(Verdict::not_comparable), c.count(Verdict::only_base),
      c.count(Verdict::only_cand));
}

std::string format_text(const Comparison& c, bool show_passes) {
  std::string out = summary_line(c) + "\n";
  out += fmt::format("(two-sided Mann-Whitney U, alpha {:g}; slower means p <= alpha and median ratio > {:g}; "
                     "interval: Hodges-Lehmann ratio, {:g}% nominal)\n",
                     c.options.alpha, 1 + c.options.threshold, c.options.confidence * 100);
  size_t key_width = 4;
  for (const auto& x : c.cases) key_width = std::max(key_width, x.case_key.size());
  out += fmt::format("{:<17}  {:<{}}  {:<34}  {}\n", "verdict", "case", key_width, "time cand/base [CI] p", "details");
  for (const auto* r : ordered(c)) {
    if (r->verdict == Verdict::pass && !show_passes) continue;
    out += fmt::format("{:<17}  {:<{}}  {:<34}  {}\n", verdict_name(r->verdict), r->case_key, key_width, time_cell(*r),
                       join(r->reasons, "; "));
  }
  return out;
}

std::string format_markdown(const Comparison& c) {
  const int regressions = c.count(Verdict::regression);
  std::string out = fmt::format("### attnbench compare: {}\n\n", regressions ? fmt::format("{} regression{}", regressions,
                                                                                             regressions == 1 ? "" : "s")
                                                                             : std::string("no regressions"));
  out += markdown_text(summary_line(c)) + "\n\n";
  std::vector<const CaseComparison*> bad, good, other;
  for (const auto* r : ordered(c)) {
    if (r->verdict == Verdict::regression) bad.push_back(r);
    else if (r->verdict == Verdict::improvement) good.push_back(r);
    else if (r->verdict != Verdict::pass) other.push_back(r);
  }
  if (!bad.empty()) out += "#### Regressions\n\n" + md_table(bad) + "\n";
  if (!good.empty()) out += "#### Improvements\n\n" + md_table(good) + "\n";
  if (!other.empty()) out += "#### Not compared\n\n" + md_table(other) + "\n";
  out += fmt::format("<details><summary>All {} cases (alpha {:g}, threshold {:g}%, error tolerance {:g} + {:g}%, "
                     "recall tolerance {:g})</summary>\n\n",
                     c.cases.size(), c.options.alpha, c.options.threshold * 100, c.options.error_abs,
                     c.options.error_rel * 100, c.options.recall_tolerance);
  out += md_table(ordered(c));
  out += "\n</details>\n";
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows only tab, newline and carriage return below 0x20.
        if (static_cast<unsigned char>(ch) >= 0x20 || ch == '\t' || ch == '\n' || ch == '\r') out += ch;
    }
  }
  return out;
}

std::string format_junit(const Comparison& c) {
  const int failures = c.count(Verdict::regression);
  const int skipped = c.count(Verdict::not_comparable) + c.count(Verdict::only_base) + c.count(Verdict::only_cand);
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string name = xml_escape(fmt::format("attnbench compare run {} vs run {}", c.base.id, c.cand.id));
  out += fmt::format("<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n", name,
                     c.cases.size(), failures, skipped);
  out += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n", name,
                     c.cases.size(), failures, skipped);
  for (const auto& r : c.cases) {
    const std::string details = join(r.reasons, "; ");
    out += fmt::format("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(r.suite + "." + r.backend),
                       xml_escape(r.case_key));
    if (r.verdict == Verdict::regression) {
      out += fmt::format(">\n      <failure message=\"{}\" type=\"regression\">{}\ntime: {}</failure>\n    </testcase>\n",
                         xml_escape(details), xml_escape(details), xml_escape(time_cell(r)));
    } else if (r.verdict == Verdict::not_comparable || r.verdict == Verdict::only_base ||
               r.verdict == Verdict::only_cand) {
      out += fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                         xml_escape(std::string(verdict_name(r.verdict)) + ": " + details));
    } else {
      out += fmt::format(">\n      <system-out>{}{}{}</system-out>\n    </testcase>\n", verdict_name(r.verdict),
                         details.empty() ? "" : ": " + xml_escape(details), xml_escape(", time " + time_cell(r)));
    }
  }
  out += "  </testsuite>\n</testsuites>\n";
  return out;
}

}  // namespace attnbench::compare
