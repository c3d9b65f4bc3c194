#include "compare_format.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

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

/// A side named by a campaign rather than by a run id.
bool is_campaign_name(const std::string& name) {
  return !name.empty() && !std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

std::string run_list(const std::vector<int64_t>& runs) {
  std::string out;
  for (int64_t id : runs) out += fmt::format("{}{}", out.empty() ? "" : ", ", id);
  return out;
}

/// "run 3 (abc123, host)" or, for a campaign, "campaign nightly (runs 3, 4; abc123, host)".
std::string run_label(const store::RunRecord& r, const std::string& name, const std::vector<int64_t>& runs) {
  const std::string sha_host = fmt::format("{}{}", r.git_sha.empty() ? "unknown sha" : r.git_sha.substr(0, 12),
                                           r.host.empty() ? "" : ", " + r.host);
  if (!is_campaign_name(name)) return fmt::format("run {} ({})", r.id, sha_host);
  const std::vector<int64_t> ids = runs.empty() ? std::vector<int64_t>{r.id} : runs;
  return fmt::format("campaign {} ({} {}; {})", name, ids.size() == 1 ? "run" : "runs", run_list(ids), sha_host);
}

std::string median_cell(const CaseComparison& c, bool base) {
  if (!c.time || c.time->n_base == 0 || c.time->n_cand == 0) return "-";
  return duration_text(base ? c.time->median_base : c.time->median_cand);
}

std::string md_table(const std::vector<const CaseComparison*>& rows) {
  std::string out =
      "| verdict | case | base median | cand median | cand/base [CI] p | details |\n|---|---|---:|---:|---|---|\n";
  for (const auto* r : rows)
    out += fmt::format("| {} | {} | {} | {} | {} | {} |\n", verdict_name(r->verdict), markdown_code(r->case_key),
                       markdown_text(median_cell(*r, true)), markdown_text(median_cell(*r, false)),
                       markdown_text(time_cell(*r)), markdown_text(join(r->reasons, "; ")));
  return out;
}

/// A number for JSON: non-finite values (NaN, inf) become null.
nlohmann::ordered_json number(double v) { return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); }

nlohmann::ordered_json optional_number(const std::optional<double>& v) {
  return v ? number(*v) : nlohmann::ordered_json();
}

nlohmann::ordered_json side_json(const store::RunRecord& r, const std::string& name, const std::vector<int64_t>& runs) {
  nlohmann::ordered_json j;
  j["name"] = name.empty() ? std::to_string(r.id) : name;
  j["campaign"] = is_campaign_name(name);
  j["runs"] = runs.empty() ? std::vector<int64_t>{r.id} : runs;
  j["run"] = r.id;
  j["status"] = r.status;
  j["git_sha"] = r.git_sha;
  j["host"] = r.host;
  j["started_at"] = r.started_at;
  return j;
}

}  // namespace

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds)) return std::isnan(seconds) ? "nan" : seconds > 0 ? "inf" : "-inf";
  const double a = std::fabs(seconds);
  if (a == 0) return "0 s";
  struct Scale { double factor; const char* unit; };
  static constexpr Scale kScales[] = {{1, "s"}, {1e-3, "ms"}, {1e-6, "\xC2\xB5s"}, {1e-9, "ns"}};
  for (const Scale& sc : kScales) {
    // Rounded to 3 significant digits first, so 999.96 us reads "1.00 ms".
    const double v = seconds / sc.factor;
    const std::string digits = fmt::format("{:.{}f}", v, std::fabs(v) >= 99.95 ? 0 : std::fabs(v) >= 9.995 ? 1 : 2);
    if (std::fabs(std::stod(digits)) >= 1 || sc.factor == 1e-9) return digits + " " + sc.unit;
  }
  return "?";
}

const char* verdict_token(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::regression: return "regression";
    case Verdict::improvement: return "improvement";
    case Verdict::not_comparable: return "not_comparable";
    case Verdict::only_base: return "only_base";
    case Verdict::only_cand: return "only_cand";
  }
  return "unknown";
}

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
      run_label(c.base, c.base_name, c.base_runs), run_label(c.cand, c.cand_name, c.cand_runs), c.cases.size(), c.count(Verdict::regression), c.count(Verdict::improvement),
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

std::string format_json(const Comparison& c) {
  using nlohmann::ordered_json;
  ordered_json j;
  j["format"] = "attnbench-compare";
  j["version"] = 1;
  j["base"] = side_json(c.base, c.base_name, c.base_runs);
  j["cand"] = side_json(c.cand, c.cand_name, c.cand_runs);
  j["options"] = {{"alpha", c.options.alpha},
                  {"threshold", c.options.threshold},
                  {"error_abs", c.options.error_abs},
                  {"error_rel", c.options.error_rel},
                  {"recall_tolerance", c.options.recall_tolerance},
                  {"confidence", c.options.confidence},
                  {"time_test", "two-sided Mann-Whitney U on the repetitions; ratio = median(cand) / median(base); "
                                "ci = Hodges-Lehmann ratio interval"}};
  ordered_json summary;
  summary["cases"] = c.cases.size();
  for (Verdict v : {Verdict::regression, Verdict::improvement, Verdict::pass, Verdict::not_comparable,
                    Verdict::only_base, Verdict::only_cand})
    summary[verdict_token(v)] = c.count(v);
  j["summary"] = summary;
  j["has_regression"] = c.has_regression();
  ordered_json cases = ordered_json::array();
  for (const CaseComparison& r : c.cases) {
    ordered_json x;
    x["case_key"] = r.case_key;
    x["suite"] = r.suite;
    x["backend"] = r.backend;
    x["verdict"] = verdict_token(r.verdict);
    x["status_base"] = r.verdict == Verdict::only_cand ? ordered_json() : ordered_json(r.status_base);
    x["status_cand"] = r.verdict == Verdict::only_base ? ordered_json() : ordered_json(r.status_cand);
    x["reasons"] = r.reasons;
    if (r.time && r.time->n_base > 0 && r.time->n_cand > 0) {
      const TimeComparison& t = *r.time;
      ordered_json time;
      time["unit"] = "s";
      time["n_base"] = t.n_base;
      time["n_cand"] = t.n_cand;
      time["median_base"] = number(t.median_base);
      time["median_cand"] = number(t.median_cand);
      time["ratio"] = number(t.ratio);
      if (t.ratio_ci)
        time["ci"] = {{"estimate", number(t.ratio_ci->estimate)},
                      {"lo", number(t.ratio_ci->lo)},
                      {"hi", number(t.ratio_ci->hi)},
                      {"confidence", number(t.ratio_ci->confidence)}};
      else
        time["ci"] = nullptr;
      time["p_value"] = number(t.test.p_value);
      time["min_p"] = number(t.test.min_p);
      time["exact"] = t.test.exact;
      time["slower"] = t.slower;
      time["faster"] = t.faster;
      time["inconclusive"] = t.inconclusive;
      time["note"] = t.note;
      x["time"] = time;
    } else {
      x["time"] = nullptr;
    }
    ordered_json quality = ordered_json::array();
    for (const MetricChange& m : r.quality)
      quality.push_back({{"name", m.name},
                         {"base", optional_number(m.base)},
                         {"cand", optional_number(m.cand)},
                         {"worse", m.worse},
                         {"better", m.better},
                         {"note", m.note}});
    x["quality"] = quality;
    cases.push_back(std::move(x));
  }
  j["cases"] = cases;
  // Stored strings may hold invalid UTF-8: replace it rather than throw.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace attnbench::compare
