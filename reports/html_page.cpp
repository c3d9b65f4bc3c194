#include "html_page.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis_sections.h"
#include "answers_section.h"
#include "reproduce_targets.h"
#include "comparison_table.h"
#include "efficiency.h"
#include "format_units.h"
#include "html_escape.h"
#include "page_assets.h"
#include "report_json.h"
#include "series_colors.h"
#include "suite_chart.h"
#include "suite_table.h"
#include "suite_table_script.h"

namespace attnbench::reports {

namespace {

constexpr const char* kDash = "<span class=\"none\">\xE2\x80\x94</span>";

/// Known statuses in reading order; unknown ones follow alphabetically.
const std::vector<std::string> kStatusOrder{"ok", "failed", "error", "oom", "unsupported",
                                            "no_device"};

std::vector<std::pair<std::string, size_t>> count_statuses(
    const std::vector<const CaseResult*>& cases) {
  std::map<std::string, size_t> counts;
  for (const CaseResult* c : cases) ++counts[c->status];
  std::vector<std::pair<std::string, size_t>> out;
  for (const std::string& s : kStatusOrder)
    if (auto it = counts.find(s); it != counts.end()) out.emplace_back(s, it->second), counts.erase(it);
  for (auto& [s, n] : counts) out.emplace_back(s, n);
  return out;
}

std::string status_chips(const std::vector<const CaseResult*>& cases) {
  std::string out = fmt::format("<div class=\"chips\"><span class=\"chip\"><b>{}</b> cases</span>",
                                cases.size());
  for (auto& [status, n] : count_statuses(cases))
    out += fmt::format("<span class=\"chip st-{}\"><b>{}</b> {}</span>", status_class(status), n,
                       html_escape(status));
  return out + "</div>";
}

/// CSS class suffix for a run status; stored text never lands in a class name.
const char* run_status_class(const std::string& status) {
  for (const char* known : {"complete", "incomplete", "failed"})
    if (status == known) return known;
  return "other";
}

std::string text_or_dash(const std::string& s, bool mono = false) {
  if (s.empty()) return kDash;
  return mono ? fmt::format("<span class=\"mono\">{}</span>", html_escape(s)) : html_escape(s);
}

/// "fmt 9.1.0 · sqlite 3.40.1": the stored JSON object, else the raw text.
std::string library_versions(const std::string& stored) {
  if (stored.empty()) return kDash;
  auto j = nlohmann::json::parse(stored, nullptr, false);
  if (!j.is_object()) return html_escape(stored);
  std::vector<std::string> parts;
  for (auto& [name, version] : j.items())
    parts.push_back(fmt::format("{} <span class=\"mono\">{}</span>", html_escape(name),
                                html_escape(version.is_string() ? version.get<std::string>()
                                                                : version.dump())));
  return parts.empty() ? kDash : fmt::format("{}", fmt::join(parts, " \xC2\xB7 "));
}

/// The runs of a campaign, one line each: id, status, host, git sha, start time.
std::string campaign_parts(const RunInfo& r, const std::vector<RunInfo>& parts) {
  std::string out = fmt::format("{} \xC2\xB7 {} run{} read as one result (provenance below is run {}'s)",
                                html_escape(r.campaign), parts.size(), parts.size() == 1 ? "" : "s", r.id);
  out += "<ul class=\"campaign-runs\">";
  for (const RunInfo& p : parts)
    out += fmt::format("<li>run {} <span class=\"badge run-{}\">{}</span> {} \xC2\xB7 {} \xC2\xB7 started {}</li>",
                       p.id, run_status_class(p.status), html_escape(p.status), text_or_dash(p.host),
                       text_or_dash(p.git_sha.substr(0, 12), true), text_or_dash(p.started_at));
  return out + "</ul>";
}

std::string provenance(const RunInfo& r, const std::vector<RunInfo>& parts) {
  auto item = [](const char* name, const std::string& html, bool wide = false) {
    return fmt::format("<dt>{}</dt><dd{}>{}</dd>", name, wide ? " class=\"wide\"" : "", html);
  };
  std::string out = "<section id=\"provenance\"><h2>Provenance</h2><dl class=\"prov\">";
  if (!r.campaign.empty()) out += item("Campaign", campaign_parts(r, parts), true);
  out += item("Run", fmt::format("{} <span class=\"badge run-{}\">{}</span>", r.id,
                                 run_status_class(r.status), html_escape(r.status)));
  out += item("Seed", fmt::format("{}{}", r.seed, r.quick ? " (quick)" : ""));
  out += item("Started", text_or_dash(r.started_at));
  out += item("Finished", text_or_dash(r.finished_at));
  out += item("Git SHA", text_or_dash(r.git_sha, true));
  out += item("Build type", text_or_dash(r.build_type));
  out += item("Compiler", text_or_dash(r.compiler));
  out += item("Host", text_or_dash(r.host));
  out += item("OS", text_or_dash(r.os));
  out += item("CPU", text_or_dash(r.cpu));
  out += item("GPU", text_or_dash(r.gpu));
  out += item("Driver", text_or_dash(r.driver));
  out += item("Flags", text_or_dash(r.compile_flags, true), true);
  out += item("Libraries", library_versions(r.library_versions), true);
  out += item("Command", text_or_dash(r.command_line, true), true);
  out += item("Selection", text_or_dash(r.selection, true), true);
  return out + "</dl></section>";
}

std::string machine_peaks(const std::vector<MachinePeak>& peaks) {
  std::string out = "<section id=\"peaks\"><h2>Machine peaks</h2>";
  if (peaks.empty())
    return out + "<p class=\"none\">No peaks were measured for this run.</p></section>";
  // Pivot: one row per (backend, device), one column per peak name.
  std::vector<std::string> names{"flops_f32", "flops_f16", "bytes_per_second"};
  for (const MachinePeak& p : peaks)
    if (std::find(names.begin(), names.end(), p.name) == names.end()) names.push_back(p.name);
  std::map<std::pair<std::string, std::string>, std::map<std::string, const MachinePeak*>> rows;
  for (const MachinePeak& p : peaks) rows[{p.backend, p.device}][p.name] = &p;
  out += "<table class=\"peaks\"><thead><tr><th>Backend</th><th>Device</th>";
  for (const std::string& n : names) out += fmt::format("<th class=\"num\">{}</th>", html_escape(n));
  out += "</tr></thead><tbody>";
  for (auto& [key, by_name] : rows) {
    out += fmt::format("<tr><td>{}</td><td>{}</td>", html_escape(key.first),
                       html_escape(key.second));
    for (const std::string& n : names) {
      auto it = by_name.find(n);
      out += it == by_name.end()
                 ? fmt::format("<td class=\"num\">{}</td>", kDash)
                 : fmt::format("<td class=\"num\">{}</td>",
                               html_escape(format_metric(it->second->value, it->second->unit)));
    }
    out += "</tr>";
  }
  return out + "</tbody></table></section>";
}

/// Suites in the order the run recorded them.
std::vector<std::pair<std::string, std::vector<const CaseResult*>>> by_suite(
    const std::vector<CaseResult>& cases) {
  std::vector<std::pair<std::string, std::vector<const CaseResult*>>> suites;
  for (const CaseResult& c : cases) {
    auto it = std::find_if(suites.begin(), suites.end(),
                           [&](const auto& s) { return s.first == c.suite; });
    if (it == suites.end()) it = suites.insert(suites.end(), {c.suite, {}});
    it->second.push_back(&c);
  }
  return suites;
}

/// Table rows grouped like the chart's lines, each group by growing length.
void sort_for_table(std::vector<const CaseResult*>& cases) {
  std::stable_sort(cases.begin(), cases.end(), [](const CaseResult* a, const CaseResult* b) {
    return std::tie(a->config, a->dtype, a->backend, a->device, a->phase, a->len_k) <
           std::tie(b->config, b->dtype, b->backend, b->device, b->phase, b->len_k);
  });
}

/// "Measurement noise": the run's A/A check, when no comparison shows it.
std::string noise_note(const NoiseCheck* noise) {
  if (!noise) return {};
  return "<div class=\"noise\" id=\"noise\"><h3>Measurement noise</h3>" +
         render_noise_note(*noise) + "</div>";
}

std::string summary(const std::vector<const CaseResult*>& all,
                    const std::vector<std::pair<std::string, std::vector<const CaseResult*>>>& suites,
                    const NoiseCheck* noise) {
  std::string out = "<section id=\"summary\"><h2>Summary</h2>" + status_chips(all) + noise_note(noise);
  if (suites.empty()) return out + "<p class=\"none\">This run recorded no cases.</p></section>";
  out += "<table class=\"summary\"><thead><tr><th>Suite</th><th class=\"num\">Cases</th>";
  for (const std::string& s : kStatusOrder) out += fmt::format("<th class=\"num\">{}</th>", s);
  out += "<th class=\"num\">other</th></tr></thead><tbody>";
  for (size_t i = 0; i < suites.size(); ++i) {
    const auto& [name, cases] = suites[i];
    auto counts = count_statuses(cases);
    out += fmt::format("<tr><td><a href=\"#suite-{}\">{}</a></td><td class=\"num\">{}</td>", i,
                       html_escape(name), cases.size());
    size_t other = 0;
    for (auto& [status, n] : counts)
      if (std::find(kStatusOrder.begin(), kStatusOrder.end(), status) == kStatusOrder.end())
        other += n;
    for (const std::string& s : kStatusOrder) {
      auto it = std::find_if(counts.begin(), counts.end(), [&](auto& p) { return p.first == s; });
      size_t n = it == counts.end() ? 0 : it->second;
      out += n ? fmt::format("<td class=\"num\"><span class=\"badge st-{}\">{}</span></td>", s, n)
               : fmt::format("<td class=\"num none\">0</td>");
    }
    out += fmt::format("<td class=\"num{}\">{}</td></tr>", other ? "" : " none", other);
  }
  return out + "</tbody></table></section>";
}

std::string banner(const RunInfo& r) {
  if (r.status == "complete") return {};
  if (r.status == "incomplete")
    return "<div class=\"banner\">This run did not finish: it is marked <b>incomplete</b>. The "
           "results below are the cases recorded so far.</div>";
  return fmt::format("<div class=\"banner bad\">This run is marked <b>{}</b>.</div>",
                     html_escape(r.status));
}

}  // namespace

std::vector<std::string> palette_names(const RunData& data) {
  std::vector<std::string> names;
  for (const CaseResult& c : data.cases) {
    names.push_back(c.config);
    if (c.config.rfind("kv=", 0) == 0) names.push_back(c.config.substr(3, c.config.find(':') - 3));
  }
  return names;
}

std::string render_html_page(const RunData& data, std::string_view source_name) {
  return render_html_page(data, source_name, nullptr);
}

std::string render_html_page(const RunData& data, std::string_view source_name,
                             const RunComparison* comparison) {
  NoiseCheck own = aa_noise_check(data, comparison ? comparison->threshold : 0.05);
  return render_html_page(data, source_name, comparison, &own, nullptr);
}

std::string render_html_page(const RunData& data, std::string_view source_name,
                             const RunComparison* comparison, const NoiseCheck* own_noise,
                             const NoiseCheck* base_noise) {
  const RunInfo& r = data.run;
  const PagePalette palette(palette_names(data));
  auto suites = by_suite(data.cases);
  std::vector<const CaseResult*> all;
  for (const CaseResult& c : data.cases) all.push_back(&c);

  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  out += fmt::format("<title>attnbench report \xE2\x80\x94 {}</title>", html_escape(r.label()));
  out += fmt::format("<style>{}</style></head><body data-js-errors=\"0\">", kReportCss);
  // First in <body>, so an error in any later script is counted (read by the chromium test).
  out += fmt::format("<script>{}</script><main>", kErrorHookScript);

  out += fmt::format("<header class=\"page\"><h1>attnbench report \xE2\x80\x94 {}</h1>", html_escape(r.label()));
  out += fmt::format("<div class=\"sub\">{} \xC2\xB7 started {} \xC2\xB7 {} cases in {} suite{}</div>",
                     text_or_dash(r.host), text_or_dash(r.started_at), data.cases.size(),
                     suites.size(), suites.size() == 1 ? "" : "s");
  out += "<nav class=\"toc\"><a href=\"#answers\">Answers</a><a href=\"#provenance\">Provenance</a><a href=\"#peaks\">Machine "
         "peaks</a><a href=\"#summary\">Summary</a>";
  if (comparison) out += "<a href=\"#comparison\">Comparison</a>";
  // Only runs with reproduction targets (suite groups with a published figure) get this section.
  const std::string targets = render_targets_section(data);
  if (!targets.empty()) out += "<a href=\"#targets\">Targets</a>";
  out += "<a href=\"#roofline\">Roofline</a><a href=\"#recall\">KV recall</a>"
         "<a href=\"#backends\">Backends</a>";
  // Only runs with approximate (sparse / linear / top-k) variants get this section.
  const std::string approximate = render_efficiency_section(data);
  if (!approximate.empty()) out += "<a href=\"#approximate\">Approximate</a>";
  for (size_t i = 0; i < suites.size(); ++i)
    out += fmt::format("<a href=\"#suite-{}\">{}</a>", i, html_escape(suites[i].first));
  out += "</nav></header>";
  out += banner(r);
  // The first screen answers the questions the report is opened for; details follow.
  out += render_answers_section(data, comparison);
  out += provenance(r, data.parts);
  out += machine_peaks(data.peaks);
  out += summary(all, suites, comparison ? nullptr : own_noise);
  if (comparison) out += render_comparison_section(*comparison, base_noise, own_noise);
  out += targets;
  out += render_roofline_section(data);
  out += render_recall_section(data);
  out += render_backend_section(data);
  out += approximate;

  for (size_t i = 0; i < suites.size(); ++i) {
    auto& [name, cases] = suites[i];
    sort_for_table(cases);
    out += fmt::format("<section class=\"suite\" id=\"suite-{}\"><h2>Suite: {}</h2>", i,
                       html_escape(name));
    out += status_chips(cases);
    // One chart per phase, side by side where they fit (id time-chart-<suite index>-<phase index>).
    const std::vector<std::string> phases = plotted_phases(cases);
    if (phases.empty())
      out += "<p class=\"note\">No successful timed case with a context length to plot.</p>";
    out += "<div class=\"small-multiples\">";
    for (size_t k = 0; k < phases.size(); ++k) {
      LogLogChart chart = suite_time_chart(name, phases[k], cases);
      chart.id = fmt::format("time-chart-{}-{}", i, k);
      out += fmt::format("<figure class=\"chart{}\">{}</figure>", phases.size() > 1 ? " small" : "",
                         render_loglog_chart(chart));
    }
    out += "</div>";
    out += "<h3>Cases</h3>" + render_suite_table(cases, data.cases) + "</section>";
  }

  out += "<script type=\"application/json\" id=\"attnbench-data\">" +
         json_for_script(run_to_json(data)) + "</script>";
  out += fmt::format(
      "<footer>Generated by attnbench from <span class=\"mono\">{}</span> (read-only). Every "
      "number above comes from the database; the run's raw data is embedded in this page as "
      "JSON (<span class=\"mono\">#attnbench-data</span>).</footer>",
      html_escape(source_name));
  // The tables' rows first, in a script of their own: sorting and filters then see them.
  out += fmt::format("</main><script>{}</script><script>{}</script></body></html>\n",
                     kSuiteTableScript, kSortScript);
  return out;
}

}  // namespace attnbench::reports
