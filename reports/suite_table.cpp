#include "suite_table.h"

#include <array>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "html_escape.h"

namespace attnbench::reports {

namespace {

/// Metrics that have a column of their own; the rest go to "other metrics".
constexpr std::array<std::string_view, 9> kDedicated{
    "time_median",        "time_min",    "time_mad",      "flops_per_second",
    "bytes_per_second",   "fraction_peak_flops", "fraction_peak_bandwidth",
    "rel_error",          "max_abs_error"};

bool dedicated(std::string_view name) {
  for (auto d : kDedicated)
    if (d == name) return true;
  return false;
}

/// A <td>. `sort` is the machine-readable key the sorting script uses;
/// `html` must already be escaped.
std::string cell(std::string_view cls, const std::string& sort, const std::string& html,
                 const std::string& title = {}) {
  std::string out = "<td";
  if (!cls.empty()) out += fmt::format(" class=\"{}\"", cls);
  out += fmt::format(" data-sort=\"{}\"", html_escape(sort));
  if (!title.empty()) out += fmt::format(" title=\"{}\"", html_escape(title));
  return out + ">" + html + "</td>";
}

/// Escaped text with a line-break opportunity after each comma, so canonical
/// config and shape strings wrap between fields rather than inside numbers.
std::string breakable(const std::string& text) {
  std::string out;
  for (char c : html_escape(text)) {
    out += c;
    if (c == ',') out += "<wbr>";
  }
  return out;
}

/// Six significant digits order every value the table shows (it prints three or four)
/// at a third of the bytes of a round-trip representation.
/// An empty numeric cell: the sort script reads a lone dash as no value.
const std::string kNoValue = "<td class=\"num none\">\xE2\x80\x94</td>";

std::string sort_key(std::optional<double> v) {
  return v && std::isfinite(*v) ? fmt::format("{:.6g}", *v) : std::string();
}

/// A numeric cell; "—" where the value is absent, "NaN" where stored as NULL.
std::string number_cell(const CaseResult& c, std::string_view metric,
                        std::string (*format)(double)) {
  const Metric* m = c.metric(metric);
  if (!m) return kNoValue;
  if (!m->value) return cell("num none", "", "n/a", "stored as NULL");
  return cell("num", sort_key(m->value), html_escape(format(*m->value)));
}

std::string rate_flops(double v) { return format_si(v, "FLOP/s"); }
std::string rate_bytes(double v) { return format_si(v, "B/s"); }

std::string time_cells(const CaseResult& c) {
  auto med = median_seconds(c);
  auto mad = mad_seconds(c);
  std::string out = med ? cell("num", sort_key(med), html_escape(format_seconds(*med))) : kNoValue;
  if (!mad || !med) return out + kNoValue;
  // Relative spread is what compares across sizes; the absolute MAD is in the tooltip.
  double rel = *med > 0 ? *mad / *med : 0;
  std::string title = fmt::format("MAD {} over {} repetition(s)", format_seconds(*mad),
                                  c.samples.size());
  if (auto mn = c.metric_value("time_min")) title += "; min " + format_seconds(*mn);
  return out + cell("num", sort_key(rel), "\xC2\xB1" + html_escape(format_percent(rel)), title);
}

std::string error_cell(const CaseResult& c) {
  const Metric* rel = c.metric("rel_error");
  const Metric* abs = c.metric("max_abs_error");
  std::string title = abs && abs->value ? "max abs error " + format_scientific(*abs->value) : "";
  if (!rel) {
    if (abs && abs->value)
      return cell("num", "", "<span class=\"none\">abs </span>" +
                                 html_escape(format_scientific(*abs->value)));
    return kNoValue;
  }
  if (!rel->value) return cell("num bad", "", "NaN", "relative error stored as NULL (NaN)");
  return cell("num", sort_key(rel->value), html_escape(format_scientific(*rel->value)), title);
}

std::string other_metrics_cell(const CaseResult& c) {
  std::string html;
  for (const Metric& m : c.metrics) {
    if (dedicated(m.name)) continue;
    html += fmt::format("<div><i>{}</i> {}</div>", html_escape(m.name),
                        m.value ? html_escape(format_metric(*m.value, m.unit)) : "n/a");
  }
  return cell("other", "", html);
}

constexpr int kNumericColumns = 8;  // median .. other metrics

std::string status_cell(const CaseResult& c) {
  std::string html = fmt::format("<span class=\"badge st-{}\">{}</span>", status_class(c.status),
                                 html_escape(c.status));
  // An ok case's message (a warning) stays under its badge; other rows show
  // theirs across the numeric columns, which they have no values for.
  if (c.status == "ok" && !c.message.empty())
    html += fmt::format("<div class=\"msg\">{}</div>", html_escape(c.message));
  return cell("status", c.status, html);
}

/// The numeric columns of a case that did not succeed: its message, full width.
std::string message_cells(const CaseResult& c) {
  std::string text = c.message.empty() ? "no message recorded" : c.message;
  return fmt::format("<td class=\"msg\" colspan=\"{}\" data-sort=\"\">{}</td>",
                     kNumericColumns, html_escape(text));
}

std::string backend_cell(const CaseResult& c) {
  std::string html = html_escape(c.backend);
  if (!c.device.empty()) html += fmt::format("<div class=\"dev\">{}</div>", html_escape(c.device));
  return cell("", c.backend + " " + c.device, html);
}

}  // namespace

std::string status_class(const std::string& status) {
  for (const char* known : {"ok", "failed", "unsupported", "no_device", "oom", "error"})
    if (status == known) return status;
  return "other";
}

std::string render_suite_table(const std::vector<const CaseResult*>& cases) {
  std::string out =
      "<table class=\"results sortable\"><thead><tr>"
      "<th>Config</th><th>Shape</th><th>dtype</th><th>Backend</th><th>Phase</th>"
      "<th>Status</th><th class=\"num\">Median<br>time</th>"
      "<th class=\"num\" title=\"median absolute deviation of the repetitions\">Spread<br>(MAD)</th>"
      "<th class=\"num\">FLOP/s</th><th class=\"num\">Bytes/s</th>"
      "<th class=\"num\" title=\"fraction of this machine's measured peak FLOP/s\">% peak<br>FLOP/s</th>"
      "<th class=\"num\" title=\"fraction of this machine's measured peak bandwidth\">% peak<br>B/s</th>"
      "<th class=\"num\" title=\"L2 relative error vs the fp64 oracle\">Rel.<br>error</th>"
      "<th>Other metrics</th></tr></thead><tbody>";
  for (const CaseResult* cp : cases) {
    const CaseResult& c = *cp;
    out += fmt::format("<tr class=\"st-{}\">", status_class(c.status));
    out += cell("mono cfg", c.config, breakable(c.config));
    out += cell("mono shape", fmt::format("{}|{:09}", shape_without_length(c), c.len_k.value_or(0)),
                breakable(c.shape));
    out += cell("", c.dtype, html_escape(c.dtype));
    out += backend_cell(c);
    out += cell("", c.phase, html_escape(c.phase));
    out += status_cell(c);
    if (c.status != "ok" && c.metrics.empty() && c.samples.empty()) {
      out += message_cells(c) + "</tr>";
      continue;
    }
    out += time_cells(c);
    out += number_cell(c, "flops_per_second", rate_flops);
    out += number_cell(c, "bytes_per_second", rate_bytes);
    out += number_cell(c, "fraction_peak_flops", format_percent);
    out += number_cell(c, "fraction_peak_bandwidth", format_percent);
    out += error_cell(c);
    out += other_metrics_cell(c);
    out += "</tr>";
  }
  return out + "</tbody></table>";
}

}  // namespace attnbench::reports
