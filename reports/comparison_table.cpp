#include "comparison_table.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "html_escape.h"

namespace attnbench::reports {

namespace {

/// Position of a ratio on the interval bar, in percent: log scale, 0.5x..2x.
double bar_pos(double ratio) {
  double t = (std::log2(std::clamp(ratio, 0.5, 2.0)) + 1) / 2;
  return 100 * t;
}

std::string interval_bar(const RatioEstimate& t, Verdict v) {
  double a = bar_pos(t.lo), b = bar_pos(t.hi), m = bar_pos(t.ratio);
  return fmt::format(
      "<div class=\"cibar\" title=\"0.5\xC3\x97 \xE2\x80\xA6 2\xC3\x97, log scale\"><span class=\"one\">"
      "</span><span class=\"ci v-{}\" style=\"left:{:.1f}%;width:{:.1f}%\"></span>"
      "<span class=\"pt v-{}\" style=\"left:{:.1f}%\"></span></div>",
      verdict_name(v), a, std::max(b - a, 0.8), verdict_name(v), m);
}

std::string metric_value(const std::string& name, double v) {
  if (name == "recall_accuracy" || name == "attention_mass_kept") return fmt::format("{:.3f}", v);
  if (name == "nonfinite_outputs") return fmt::format("{:g}", v);
  return format_scientific(v);
}

std::string quality_cell(const CaseComparison& cc) {
  std::string html;
  for (const QualityDelta& d : cc.quality) {
    auto show = [&](const std::optional<double>& v) {
      return v ? html_escape(metric_value(d.metric, *v)) : std::string("\xE2\x80\x94");
    };
    html += fmt::format("<div class=\"{}\"><span class=\"mname\">{}</span> {} \xE2\x86\x92 {}</div>",
                        d.worse ? "q-worse" : d.better ? "q-better" : "q-same",
                        html_escape(d.metric), show(d.base), show(d.cand));
  }
  return html.empty() ? "<span class=\"none\">\xE2\x80\x94</span>" : html;
}

/// Escaped text that may wrap after each comma (canonical strings are long).
std::string breakable(const std::string& text) {
  std::string out;
  for (char ch : html_escape(text)) {
    out += ch;
    if (ch == ',') out += "<wbr>";
  }
  return out;
}

bool quality_moved(const CaseComparison& cc) {
  return std::any_of(cc.quality.begin(), cc.quality.end(),
                     [](const QualityDelta& d) { return d.worse || d.better; });
}

/// Reading order: regressions first, then improvements, then the rest.
int rank(const CaseComparison& cc) {
  bool worse = std::any_of(cc.quality.begin(), cc.quality.end(),
                           [](const QualityDelta& d) { return d.worse; });
  if (cc.verdict == Verdict::slower) return 0;
  if (worse) return 1;
  if (cc.verdict == Verdict::faster) return 2;
  return quality_moved(cc) ? 3 : 4;
}

std::string table_head() {
  return "<table class=\"comparison sortable\"><thead><tr><th>Suite</th><th>Config</th><th>Shape</th>"
         "<th>Backend</th><th class=\"num\">Baseline<br>median</th><th class=\"num\">Candidate<br>"
         "median</th><th class=\"num\">Ratio</th><th class=\"num\">95% interval</th>"
         "<th>0.5\xC3\x97 \xE2\x80\xA6 1 \xE2\x80\xA6 2\xC3\x97</th><th>Verdict</th><th>Quality "
         "(baseline \xE2\x86\x92 candidate)</th></tr></thead><tbody>";
}

std::string table_row(const CaseComparison& cc) {
  const CaseResult& c = *cc.cand;
  const char* v = verdict_name(cc.verdict);
  auto tb = median_seconds(*cc.base), tc = median_seconds(c);
  auto time_td = [](const std::optional<double>& t) {
    return t ? fmt::format("<td class=\"num\" data-sort=\"{:.17g}\">{}</td>", *t,
                           html_escape(format_seconds(*t)))
             : std::string("<td class=\"num none\" data-sort=\"\">\xE2\x80\x94</td>");
  };
  std::string out;
  if (cc.time)
    out += fmt::format("<tr class=\"v-{}\" data-ratio=\"{:.4f}\" data-lo=\"{:.4f}\" data-hi=\"{:.4f}\">",
                       v, cc.time->ratio, cc.time->lo, cc.time->hi);
  else
    out += fmt::format("<tr class=\"v-{}\">", v);
  out += fmt::format("<td>{}</td><td class=\"mono cfg\" title=\"{}\">{}</td><td class=\"mono shape\">{}</td>"
                     "<td>{}</td>",
                     html_escape(c.suite), html_escape(c.case_key), breakable(c.config),
                     breakable(c.shape), html_escape(c.backend));
  out += time_td(tb) + time_td(tc);
  if (cc.time) {
    const RatioEstimate& t = *cc.time;
    out += fmt::format("<td class=\"num\" data-sort=\"{:.17g}\"><b>{:.3f}\xC3\x97</b></td>", t.ratio,
                       t.ratio);
    out += t.has_interval
               ? fmt::format("<td class=\"num\" data-sort=\"{:.17g}\">{:.3f} \xE2\x80\x93 {:.3f}</td>",
                             t.lo, t.lo, t.hi)
               : std::string("<td class=\"num none\" data-sort=\"\" title=\"fewer than two "
                             "repetitions\">n/a</td>");
    out += "<td>" + interval_bar(t, cc.verdict) + "</td>";
  } else {
    out += "<td class=\"num none\" data-sort=\"\">\xE2\x80\x94</td><td class=\"num none\" "
           "data-sort=\"\">\xE2\x80\x94</td><td></td>";
  }
  out += fmt::format("<td data-sort=\"{}\"><span class=\"badge v-{}\">{}</span></td>", v, v, v);
  return out + "<td class=\"other\">" + quality_cell(cc) + "</td></tr>";
}

}  // namespace

/// "run 3" for a comparison built without labels (e.g. by hand in a test).
static std::string label_or_run(const std::string& label, int64_t run) {
  return label.empty() ? fmt::format("run {}", run) : label;
}

std::string render_comparison_section(const RunComparison& cmp, const NoiseCheck* base_noise,
                                      const NoiseCheck* cand_noise) {
  size_t faster = 0, slower = 0, same = 0, untimed = 0, worse = 0;
  for (const CaseComparison& cc : cmp.cases) {
    switch (cc.verdict) {
      case Verdict::faster: ++faster; break;
      case Verdict::slower: ++slower; break;
      case Verdict::same: ++same; break;
      default: ++untimed;
    }
    worse += std::any_of(cc.quality.begin(), cc.quality.end(),
                         [](const QualityDelta& d) { return d.worse; });
  }
  std::string out = fmt::format(
      "<section id=\"comparison\"><h2>Comparison with baseline {}</h2><p class=\"note\">Ratio "
      "= candidate ({}) / baseline median time per call, with a 95% bootstrap interval over "
      "the repetitions (fixed seed). A case is faster or slower only when the whole interval is "
      "on one side of 1 and the change exceeds {}.</p>",
      html_escape(label_or_run(cmp.base_label, cmp.base_run)), html_escape(label_or_run(cmp.cand_label, cmp.cand_run)),
      html_escape(format_percent(cmp.threshold)));
  // How often this very rule cries wolf on each run's own repetitions.
  if (base_noise)
    out += render_noise_note(*base_noise, "Baseline " + label_or_run(cmp.base_label, base_noise->run));
  if (cand_noise)
    out += render_noise_note(*cand_noise, "Candidate " + label_or_run(cmp.cand_label, cand_noise->run));
  out += fmt::format(
      "<div class=\"chips\"><span class=\"chip\"><b>{}</b> matched</span><span class=\"chip "
      "v-faster\"><b>{}</b> faster</span><span class=\"chip v-slower\"><b>{}</b> slower</span>"
      "<span class=\"chip v-same\"><b>{}</b> same</span><span class=\"chip\"><b>{}</b> untimed</span>"
      "<span class=\"chip{}\"><b>{}</b> quality worse</span><span class=\"chip\"><b>{}</b> only "
      "in baseline</span><span class=\"chip\"><b>{}</b> only in candidate</span></div>",
      cmp.cases.size(), faster, slower, same, untimed, worse ? " v-slower" : "", worse,
      cmp.only_base.size(), cmp.only_cand.size());
  if (cmp.cases.empty())
    return out + "<p class=\"none\">No ok case of this run has the same case key in the baseline.</p></section>";

  std::vector<const CaseComparison*> rows;
  for (const CaseComparison& cc : cmp.cases) rows.push_back(&cc);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const CaseComparison* a, const CaseComparison* b) { return rank(*a) < rank(*b); });
  // Changes lead; unchanged cases fold away so a CI reader sees what moved.
  auto first_unchanged = std::find_if(rows.begin(), rows.end(),
                                      [](const CaseComparison* cc) { return rank(*cc) == 4; });
  if (first_unchanged != rows.begin()) {
    out += table_head();
    for (auto it = rows.begin(); it != first_unchanged; ++it) out += table_row(**it);
    out += "</tbody></table>";
  } else {
    out += "<p class=\"note\">No case changed beyond the noise and the threshold.</p>";
  }
  if (first_unchanged != rows.end()) {
    out += fmt::format("<details class=\"unchanged\"><summary>{} unchanged case{}</summary>",
                       rows.end() - first_unchanged, rows.end() - first_unchanged == 1 ? "" : "s");
    out += table_head();
    for (auto it = first_unchanged; it != rows.end(); ++it) out += table_row(**it);
    out += "</tbody></table></details>";
  }
  return out + "</section>";
}

}  // namespace attnbench::reports
