#include "answers_section.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "answers_fastest.h"
#include "answers_kv.h"
#include "case_stats.h"
#include "efficiency.h"
#include "format_units.h"
#include "html_escape.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

constexpr const char* kDash = "<span class=\"none\">\xE2\x80\x94</span>";
constexpr size_t kMaxMessage = 240;  // a stack trace would push the other answers off the screen

std::string speedup_text(double s) { return fmt::format("{:.2f}\xC3\x97", s); }

std::string plural(size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

/// (c): approximate variants that beat their exact baseline, and from which length.
std::string winners_answer(const RunData& data) {
  std::string out = "<h3 id=\"answer-approximate\">Approximate variants that beat the exact kernel</h3>";
  auto groups = efficiency_groups(data);
  std::vector<const EfficiencyGroup*> compared, winners;
  for (const EfficiencyGroup& g : groups)
    if (g.longest_compared > 0) {
      compared.push_back(&g);
      if (g.efficiency_length) winners.push_back(&g);
    }
  if (groups.empty())
    return out + "<p class=\"none note\">No sparse or approximate variant in this run.</p>";
  if (compared.empty())
    return out + fmt::format("<p class=\"answer\">{} ran, but none has an exact baseline (flash or "
                             "decode) at the same shape to compare with.</p>",
                             plural(groups.size(), "approximate configuration", "approximate configurations"));
  out += fmt::format("<p class=\"answer\">{} of {} compared with the exact kernel at the same shape "
                     "{} it from some length on{}.</p>",
                     winners.size(), plural(compared.size(), "approximate configuration", "approximate configurations"),
                     winners.size() == 1 ? "beats" : "beat",
                     winners.size() < compared.size() ? "; the others never do up to their longest measured length"
                                                      : "");
  if (winners.empty()) return out;
  out += "<table class=\"answers-approximate sortable\"><thead><tr><th>Variant</th><th>Baseline</th>"
         "<th>Backend</th><th>Dtype</th><th>Phase</th><th>Shape</th><th class=\"num\">Faster from "
         "length</th><th class=\"num\">Best speedup</th><th class=\"num\">Max rel_error</th></tr></thead><tbody>";
  for (const EfficiencyGroup* g : winners) {
    const double best = best_speedup(*g).value_or(0.0);  // a winner always has a speedup
    const std::optional<double> err = worst_rel_error(*g);
    out += fmt::format(
        "<tr><td class=\"mono\">{}{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"mono\">{}</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\" "
        "data-sort=\"{:.6f}\">{}</td><td class=\"num\" data-sort=\"{}\">{}</td></tr>",
        color_swatch(g->config), html_escape(g->config), html_escape(g->baseline_config),
        html_escape(g->backend), html_escape(g->dtype), html_escape(g->phase),
        html_escape(g->fixed_shape), *g->efficiency_length,
        format_length(static_cast<double>(*g->efficiency_length)), best, speedup_text(best),
        err ? fmt::format("{:.6e}", *err) : "", err ? format_scientific(*err) : kDash);
  }
  return out + "</tbody></table>";
}

/// (d): regressions against the baseline, worst first.
std::string regressions_answer(const RunComparison* cmp) {
  std::string out = "<h3 id=\"answer-regressions\">Regressions against the baseline</h3>";
  if (!cmp)
    return out + "<p class=\"none note\">No baseline given (<span class=\"mono\">attnbench report "
                 "--baseline RUN</span> adds one).</p>";
  auto worse = regressions(*cmp);
  size_t slower = 0;
  for (const CaseComparison* cc : worse) slower += cc->verdict == Verdict::slower;
  if (worse.empty())
    return out + fmt::format("<p class=\"answer\">No regression against {}: none of {} matched is "
                             "slower beyond the {} threshold or worse in quality.</p>",
                             html_escape(cmp->base_label), plural(cmp->cases.size(), "case", "cases"),
                             format_percent(cmp->threshold));
  out += fmt::format("<p class=\"answer\">Against {}: {} slower beyond the {} threshold and {} worse only "
                     "in quality, of {} matched; worst first (details in "
                     "<a href=\"#comparison\">Comparison</a>).</p>",
                     html_escape(cmp->base_label), plural(slower, "case", "cases"),
                     format_percent(cmp->threshold), worse.size() - slower, cmp->cases.size());
  out += "<table class=\"answers-regressions sortable\"><thead><tr><th>Suite</th><th>Config</th>"
         "<th>Shape</th><th>Backend</th><th class=\"num\">Time ratio</th><th>Quality worse</th>"
         "</tr></thead><tbody>";
  for (const CaseComparison* cc : worse) {
    std::string quality;
    for (const QualityDelta& d : cc->quality)
      if (d.worse) quality += (quality.empty() ? "" : ", ") + html_escape(d.metric);
    out += fmt::format(
        "<tr class=\"v-{}\"><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td>"
        "<td class=\"num\" data-sort=\"{}\">{}</td><td>{}</td></tr>",
        verdict_name(cc->verdict), html_escape(cc->cand->suite), html_escape(cc->cand->config),
        html_escape(cc->cand->shape), html_escape(cc->cand->backend),
        cc->time ? fmt::format("{:.6f}", cc->time->ratio) : "",
        cc->time ? fmt::format("{:.2f}\xC3\x97", cc->time->ratio) : kDash,
        quality.empty() ? kDash : quality);
  }
  return out + "</tbody></table>";
}

/// (e): everything that failed, crashed or timed out, and a run that did not finish.
std::string failures_answer(const RunData& data) {
  std::string out = "<h3 id=\"answer-failures\">Failures, crashes and timeouts</h3>";
  if (data.run.status != "complete")
    out += fmt::format("<p class=\"answer bad\">The run is marked <b>{}</b>.</p>",
                       html_escape(data.run.status));
  auto failed = failed_cases(data);
  if (failed.empty())
    return out + fmt::format("<p class=\"answer\">Nothing failed, crashed or timed out ({} recorded).</p>",
                             plural(data.cases.size(), "case", "cases"));
  std::map<std::string, size_t> by_status;
  for (const CaseResult* c : failed) ++by_status[c->status];
  std::vector<std::string> parts;
  for (auto& [s, n] : by_status) parts.push_back(fmt::format("{} {}", n, html_escape(s)));
  out += fmt::format("<p class=\"answer bad\">{} of {} did not finish: {}.</p>",
                     failed.size(), plural(data.cases.size(), "case", "cases"), fmt::join(parts, ", "));
  out += "<table class=\"answers-failures sortable\"><thead><tr><th>Status</th><th>Suite</th>"
         "<th>Config</th><th>Backend</th><th>Shape</th><th>Message</th></tr></thead><tbody>";
  for (const CaseResult* c : failed) {
    std::string msg = c->message.size() > kMaxMessage ? c->message.substr(0, kMaxMessage) + "\xE2\x80\xA6"
                                                      : c->message;
    out += fmt::format(
        "<tr class=\"st-{}\"><td><span class=\"badge st-{}\">{}</span></td><td>{}</td><td class=\"mono\">{}</td>"
        "<td>{}</td><td class=\"mono\">{}</td><td class=\"msg\">{}</td></tr>",
        c->status == "failed" ? "failed" : "error", c->status == "failed" ? "failed" : "error",
        html_escape(c->status), html_escape(c->suite), html_escape(c->config),
        html_escape(c->backend), html_escape(c->shape), html_escape(msg));
  }
  return out + "</tbody></table>";
}

}  // namespace

bool is_failure_status(const std::string& status) {
  return status == "failed" || status == "error" || status == "crashed" || status == "timeout";
}

std::vector<const CaseResult*> failed_cases(const RunData& data) {
  std::vector<const CaseResult*> out;
  for (const CaseResult& c : data.cases)
    if (is_failure_status(c.status)) out.push_back(&c);
  return out;
}

std::vector<const CaseComparison*> regressions(const RunComparison& cmp) {
  std::vector<const CaseComparison*> slower, quality;
  for (const CaseComparison& cc : cmp.cases) {
    if (cc.verdict == Verdict::slower) slower.push_back(&cc);
    else if (std::any_of(cc.quality.begin(), cc.quality.end(), [](const QualityDelta& d) { return d.worse; }))
      quality.push_back(&cc);
  }
  std::stable_sort(slower.begin(), slower.end(), [](const CaseComparison* a, const CaseComparison* b) {
    return a->time->ratio > b->time->ratio;
  });
  slower.insert(slower.end(), quality.begin(), quality.end());
  return slower;
}

std::string render_answers_section(const RunData& data, const RunComparison* comparison) {
  std::string out = fmt::format("<section id=\"answers\"><h2>Answers for {}</h2>",
                                html_escape(data.run.label()));
  // Failures are answered last, as (e), but a reader must not miss them: one line up top.
  if (size_t n = failed_cases(data).size())
    out += fmt::format("<p class=\"answer bad\">{} failed, crashed or timed out: see "
                       "<a href=\"#answer-failures\">below</a>.</p>",
                       plural(n, "case", "cases"));
  out += render_fastest_answer(fastest_configs(data));
  out += render_kv_answer(kv_budget_answers(data));
  out += winners_answer(data);
  out += regressions_answer(comparison);
  out += failures_answer(data);
  return out + "</section>";
}

}  // namespace attnbench::reports
