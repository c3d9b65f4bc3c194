#include "calibration_section.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "html_escape.h"

namespace attnbench::reports {
namespace {

/// Published observation, its source, and the direction our check reads from it.
struct Published {
  const char* statistic;
  const char* claim;
  const char* source;
};

// The claims are the papers' qualitative findings (their figures), not numbers of ours.
const Published kPublished[] = {
    {"sink_mass",
     "Initial tokens draw a large share of attention in most heads beyond the bottom two layers (Llama-2, MPT, "
     "Falcon, Pythia); keeping 4 of them restores dense perplexity under a sliding window",
     "Xiao et al. 2023, StreamingLLM (ICLR 2024), sec. 3.1, fig. 2, table 1"},
    {"recent_mass",
     "Besides the sinks, most attention falls on the recent tokens: sinks + a recent window match dense attention",
     "Xiao et al. 2023, StreamingLLM, fig. 2; Zhang et al. 2023, H2O, sec. 3"},
    {"entropy",
     "Attention is broad in lower layers and concentrates in upper layers (pyramidal information funneling)",
     "Cai et al. 2024, PyramidKV, sec. 3, fig. 1"},
    {"norm_corr",
     "Keys with low L2 norm receive high attention: key norm and attention received are negatively correlated",
     "Devoto et al. 2024, A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression (EMNLP), fig. 1-2"},
};

std::string source_of(const CaseResult& c) {
  if (c.shape.starts_with("trace=")) {
    const auto field = [&](const std::string& k) {
      const size_t p = c.shape.find(k + "=");
      if (p == std::string::npos) return std::string();
      const size_t e = c.shape.find(',', p);
      return c.shape.substr(p + k.size() + 1, e == std::string::npos ? std::string::npos : e - p - k.size() - 1);
    };
    return fmt::format("trace {} ({})", field("trace"), field("model"));
  }
  return "generator";
}

struct Acc {
  double sum = 0, min = 0, max = 0;
  size_t n = 0;
  double entropy_first = 0, entropy_last = 0;
  size_t layered = 0;
};

}  // namespace

std::vector<CalibrationRow> calibration_rows(const RunData& data) {
  std::map<std::pair<std::string, std::string>, Acc> acc;
  for (const CaseResult& c : data.cases) {
    if (c.status != "ok") continue;
    for (const Published& p : kPublished) {
      const std::string base = std::string("calib_") + p.statistic;
      const auto mean = c.metric_value(base);
      if (!mean) continue;
      Acc& a = acc[{source_of(c), p.statistic}];
      const double lo = c.metric_value(base + "_min").value_or(*mean), hi = c.metric_value(base + "_max").value_or(*mean);
      a.min = a.n ? std::min(a.min, lo) : lo;
      a.max = a.n ? std::max(a.max, hi) : hi;
      a.sum += *mean;
      ++a.n;
      if (const auto f = c.metric_value("calib_entropy_first_layer"), l = c.metric_value("calib_entropy_last_layer"); f && l)
        a.entropy_first += *f, a.entropy_last += *l, ++a.layered;
    }
  }
  std::vector<CalibrationRow> rows;
  for (const auto& [key, a] : acc) {
    CalibrationRow r;
    r.source = key.first, r.statistic = key.second;
    r.mean = a.sum / static_cast<double>(a.n), r.min = a.min, r.max = a.max, r.cases = a.n;
    for (const Published& p : kPublished)
      if (r.statistic == p.statistic) r.published = p.claim, r.reference = p.source;
    // The direction each claim states, read on the measured means.
    if (r.statistic == "sink_mass") r.agrees = r.mean >= 0.2 ? "yes" : "no";
    else if (r.statistic == "recent_mass") r.agrees = r.mean >= 0.2 ? "yes" : "no";
    else if (r.statistic == "norm_corr") r.agrees = r.mean < 0 ? "yes" : "no";
    else if (a.layered > 0) r.agrees = a.entropy_first > a.entropy_last ? "yes" : "no";
    else r.agrees = "n/a (one layer)";
    rows.push_back(r);
  }
  return rows;
}

std::string render_calibration_section(const RunData& data) {
  const auto rows = calibration_rows(data);
  if (rows.empty()) return {};  // nothing measured (no kv=full case): no section
  std::string out =
      "<section id=\"calibration\"><h2>Calibration against real models</h2><p class=\"note\">Attention statistics "
      "of this run's data, per query head over up to 64 context queries in the second half of each context "
      "(measured by the <code>full</code> KV cases), next to what published work measured on real models. "
      "Mean over cases, [min, max] over heads. Agrees: the measured mean goes the claim's way (mass &ge; 0.2 for "
      "a large share, a negative correlation, entropy falling from the first to the last layer).</p>";
  out += "<table class=\"sortable\"><thead><tr><th>data</th><th>statistic</th><th>measured</th><th>[min, max]</th>"
         "<th>cases</th><th>published on real models</th><th>source</th><th>agrees</th></tr></thead><tbody>";
  for (const auto& r : rows)
    out += fmt::format(
        "<tr data-statistic=\"{1}\"><td>{0}</td><td>{1}</td><td>{2:.3f}</td><td>[{3:.3f}, {4:.3f}]</td><td>{5}</td>"
        "<td>{6}</td><td>{7}</td><td>{8}</td></tr>",
        html_escape(r.source), html_escape(r.statistic), r.mean, r.min, r.max, r.cases, html_escape(r.published),
        html_escape(r.reference), html_escape(r.agrees));
  return out + "</tbody></table></section>";
}

}  // namespace attnbench::reports
