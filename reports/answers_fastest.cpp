#include "answers_fastest.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "case_stats.h"
#include "efficiency.h"
#include "format_units.h"
#include "html_escape.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

using ClassKey = std::tuple<std::string, std::string, std::string, std::string>;  // phase, class, dtype, backend

struct Timed {
  const CaseResult* c;
  double seconds;
};

/// "512" for one length, "512–8K (4 lengths)" for several.
std::string lengths_text(const std::vector<int64_t>& lengths) {
  if (lengths.empty() || lengths.front() <= 0) return "\xE2\x80\x94";
  std::string first = format_length(static_cast<double>(lengths.front()));
  if (lengths.size() == 1) return first;
  return fmt::format("{}\xE2\x80\x93{} ({} lengths)", first,
                     format_length(static_cast<double>(lengths.back())), lengths.size());
}

/// The cache size the backend of `c` declared (machine peak cache_bytes), 0 if none.
double declared_cache(const std::vector<MachinePeak>& peaks, const CaseResult& c) {
  for (const MachinePeak& p : peaks)
    if (p.name == "cache_bytes" && p.backend == c.backend && p.device == c.device) return p.value;
  return 0;
}

/// The larger of the two fractions of peak, with which peak it is; for a bandwidth
/// winner timed warm whose bytes fit in `cache`, both sizes.
void set_peak(FastestRow& row, const CaseResult& c, double cache) {
  auto flops = c.metric_value("fraction_peak_flops");
  auto bw = c.metric_value("fraction_peak_bandwidth");
  // Of the work done (attended pairs), not the dense-equivalent FLOPs: see attended_work_factor.
  if (flops && std::isfinite(*flops)) row.peak_fraction = *flops * attended_work_factor(c), row.peak_kind = "FLOP/s";
  if (bw && std::isfinite(*bw) && (!row.peak_fraction || *bw > *row.peak_fraction))
    row.peak_fraction = *bw, row.peak_kind = "bandwidth";
  const bool cold = c.metric("cold_flush_bytes") != nullptr;
  row.working_set_bytes = row.cache_bytes = 0;
  if (row.peak_kind == "bandwidth" && !cold && c.bytes && cache > 0 && *c.bytes < cache)
    row.working_set_bytes = *c.bytes, row.cache_bytes = cache;
}

}  // namespace

std::string shape_class(const CaseResult& c) {
  std::string out = shape_without_length(c);
  if (config_is_causal(c.config)) out += out.empty() ? "causal" : ", causal";
  return out;
}

std::vector<FastestRow> fastest_configs(const RunData& data) {
  // std::map orders classes and lengths; within a length, recording order breaks ties.
  std::map<ClassKey, std::map<int64_t, std::vector<Timed>>> classes;
  for (const CaseResult& c : data.cases) {
    if (c.status != "ok" || c.config.rfind("kv=", 0) == 0) continue;
    auto s = median_seconds(c);
    if (!s || !std::isfinite(*s) || *s <= 0) continue;
    classes[{c.phase, shape_class(c), c.dtype, c.backend}][c.len_k.value_or(0)].push_back({&c, *s});
  }
  std::vector<FastestRow> rows;
  for (auto& [key, by_length] : classes) {
    FastestRow* open = nullptr;  // the row the next length may extend
    for (auto& [len, timed] : by_length) {
      auto best = std::min_element(timed.begin(), timed.end(),
                                   [](const Timed& a, const Timed& b) { return a.seconds < b.seconds; });
      if (!open || open->config != best->c->config) {
        FastestRow row;
        std::tie(row.phase, row.shape_class, row.dtype, row.backend) = key;
        row.config = best->c->config;
        row.approximate = !is_exact_variant(best->c->variant);
        rows.push_back(std::move(row));
        open = &rows.back();
      }
      open->lengths.push_back(len);
      open->seconds = best->seconds;
      open->peak_fraction.reset();
      set_peak(*open, *best->c, declared_cache(data.peaks, *best->c));
      open->rivals = std::max(open->rivals, timed.size() - 1);
    }
  }
  return rows;
}

namespace {

/// "268 MB per call fits in the 533 MB cache: partly cache" under a bandwidth fraction.
std::string cache_note(const FastestRow& r) {
  if (r.cache_bytes <= 0) return {};
  return fmt::format("<div class=\"note\" title=\"timed warm; attnbench run --cold flushes the cache "
                     "before each call\">{} per call fits in the {} cache: partly cache</div>",
                     html_escape(format_si(r.working_set_bytes, "B")), html_escape(format_si(r.cache_bytes, "B")));
}

}  // namespace

std::string render_fastest_answer(const std::vector<FastestRow>& rows) {
  std::string out = "<h3 id=\"answer-fastest\">Fastest configuration</h3>";
  if (rows.empty())
    return out + "<p class=\"none note\">No successful timed case, so nothing to rank.</p>";
  // Lead sentence: how often each configuration wins, most wins first.
  std::map<std::string, size_t> wins;
  std::map<ClassKey, bool> groups;
  for (const FastestRow& r : rows) ++wins[r.config], groups[{r.phase, r.shape_class, r.dtype, r.backend}];
  std::vector<std::pair<std::string, size_t>> ranked(wins.begin(), wins.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::vector<std::string> parts;
  for (size_t i = 0; i < ranked.size() && i < 3; ++i)
    parts.push_back(fmt::format("<span class=\"mono\">{}</span> in {}", html_escape(ranked[i].first),
                                ranked[i].second));
  out += fmt::format(
      "<p class=\"answer\">{} (phase, shape, dtype, backend) group{} timed; the fastest "
      "configuration over a range of lengths: {}{}.</p>",
      groups.size(), groups.size() == 1 ? "" : "s", fmt::join(parts, ", "),
      ranked.size() > 3 ? fmt::format(" and {} more", ranked.size() - 3) : "");
  out += "<table class=\"answers-fastest sortable\"><thead><tr><th>Phase</th><th>Shape class</th>"
         "<th>Dtype</th><th>Backend</th><th>Lengths</th><th>Fastest</th><th class=\"num\">Time at "
         "longest</th><th class=\"num\">Fraction of peak</th><th class=\"num\">Rivals</th></tr>"
         "</thead><tbody>";
  for (const FastestRow& r : rows) {
    out += fmt::format(
        "<tr><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\" "
        "data-sort=\"{}\">{}</td><td class=\"mono\">{}{}{}</td><td class=\"num\" data-sort=\"{:.6e}\">{}"
        "</td><td class=\"num\" data-sort=\"{}\">{}</td><td class=\"num\">{}</td></tr>",
        html_escape(r.phase), html_escape(r.shape_class), html_escape(r.dtype),
        html_escape(r.backend), r.lengths.back(), lengths_text(r.lengths), color_swatch(r.config),
        html_escape(r.config), r.approximate ? " <span class=\"badge\">approximate</span>" : "",
        r.seconds, format_seconds(r.seconds),
        r.peak_fraction ? fmt::format("{:.6f}", *r.peak_fraction) : "",
        r.peak_fraction ? fmt::format("{} of {}{}", format_percent(*r.peak_fraction), r.peak_kind, cache_note(r))
                        : "<span class=\"none\">\xE2\x80\x94</span>",
        r.rivals);
  }
  return out + "</tbody></table>";
}

}  // namespace attnbench::reports
