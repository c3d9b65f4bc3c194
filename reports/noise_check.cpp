#include "noise_check.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "case_stats.h"
#include "format_units.h"
#include "html_escape.h"
#include "run_comparison.h"

namespace attnbench::reports {

NoiseCheck aa_noise_check(const RunData& run, double threshold) {
  NoiseCheck out;
  out.run = run.run.id;
  out.threshold = threshold;
  std::vector<double> spreads;
  for (const CaseResult& c : run.cases) {
    if (c.status != "ok") continue;
    std::vector<double> even, odd;
    for (const Sample& s : c.samples) {
      if (!std::isfinite(s.seconds) || s.seconds <= 0) continue;
      (s.repetition % 2 == 0 ? even : odd).push_back(s.seconds);
    }
    if (even.size() + odd.size() < kNoiseMinRepetitions || even.size() < 2 || odd.size() < 2)
      continue;
    ++out.cases;
    Verdict v = time_verdict(bootstrap_median_ratio(even, odd), threshold);
    if (v == Verdict::faster || v == Verdict::slower) ++out.false_alarms;
    auto med = median_seconds(c), mad = mad_seconds(c);
    if (med && mad && *med > 0 && std::isfinite(*mad)) spreads.push_back(*mad / *med);
  }
  if (!spreads.empty()) {
    std::sort(spreads.begin(), spreads.end());
    size_t n = spreads.size();
    out.median_spread = n % 2 ? spreads[n / 2] : 0.5 * (spreads[n / 2 - 1] + spreads[n / 2]);
  }
  return out;
}

std::string render_noise_note(const NoiseCheck& check, const std::string& label) {
  std::string prefix = label.empty() ? std::string() : html_escape(label) + ": ";
  std::string open = fmt::format(
      "<p class=\"note aa-note\" data-run=\"{}\" data-false-alarms=\"{}\" data-cases=\"{}\" "
      "title=\"Each case's repetitions split into even and odd halves and compared with the "
      "run-vs-run rule; any verdict is a false alarm\">",
      check.run, check.false_alarms, check.cases);
  if (!check.cases)
    return open + prefix +
           fmt::format("A/A false alarms: not measured (no timed case has at least {} "
                       "repetitions).</p>",
                       kNoiseMinRepetitions);
  std::string spread =
      check.median_spread
          ? fmt::format(" \xC2\xB7 median spread (MAD/median) {}",
                        html_escape(format_percent(*check.median_spread)))
          : std::string();
  return open + prefix +
         fmt::format("A/A false alarms: {} of {} case{} ({}) at threshold {}{}.</p>",
                     check.false_alarms, check.cases, check.cases == 1 ? "" : "s",
                     html_escape(format_percent(check.rate())),
                     html_escape(format_percent(check.threshold)), spread);
}

}  // namespace attnbench::reports
