#include "run_comparison.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "case_stats.h"

namespace attnbench::reports {

namespace {

double median_in_place(std::vector<double>& v) {
  size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double hi = v[mid];
  if (n % 2) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lo + hi);
}

std::vector<double> usable(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x) && x > 0) out.push_back(x);
  return out;
}

std::vector<double> seconds_of(const CaseResult& c) {
  std::vector<double> v;
  for (const Sample& s : c.samples) v.push_back(s.seconds);
  return v;
}

/// Percentile of a sorted vector, linear interpolation between ranks.
double percentile(const std::vector<double>& sorted, double q) {
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t i = static_cast<size_t>(pos);
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (pos - static_cast<double>(i)) * (sorted[i + 1] - sorted[i]);
}

struct QualitySpec {
  const char* name;
  bool higher_is_better;
};
constexpr QualitySpec kQuality[] = {{"rel_error", false},          {"max_abs_error", false},
                                    {"nonfinite_outputs", false},  {"recall_accuracy", true},
                                    {"attention_mass_kept", true}, {"output_error_vs_full", false}};

QualityDelta quality_delta(const QualitySpec& q, const CaseResult& b, const CaseResult& c) {
  QualityDelta d{q.name, b.metric_value(q.name), c.metric_value(q.name)};
  if (!d.base || !d.cand) return d;
  double delta = *d.cand - *d.base;
  if (q.higher_is_better) {
    // Accuracies are fractions: an absolute tolerance reads as "half a percent point".
    d.worse = delta < -0.005;
    d.better = delta > 0.005;
  } else {
    // Errors span decades: compare relatively, ignoring changes in the rounding noise.
    double scale = std::max(std::fabs(*d.base), 1e-12);
    d.worse = delta > 0.1 * scale && *d.cand > 1e-12;
    d.better = -delta > 0.1 * scale && *d.base > 1e-12;
  }
  return d;
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::faster: return "faster";
    case Verdict::slower: return "slower";
    case Verdict::same: return "same";
    default: return "untimed";
  }
}

Verdict time_verdict(const std::optional<RatioEstimate>& time, double threshold) {
  if (!time) return Verdict::untimed;
  const RatioEstimate& t = *time;
  if (t.hi < 1 && t.ratio <= 1 - threshold) return Verdict::faster;
  if (t.lo > 1 && t.ratio >= 1 + threshold) return Verdict::slower;
  return Verdict::same;
}

std::optional<RatioEstimate> bootstrap_median_ratio(const std::vector<double>& base_in,
                                                    const std::vector<double>& cand_in,
                                                    int resamples, uint64_t seed, double confidence) {
  std::vector<double> base = usable(base_in), cand = usable(cand_in);
  if (base.empty() || cand.empty()) return std::nullopt;
  std::vector<double> b = base, c = cand;
  RatioEstimate est;
  est.ratio = median_in_place(c) / median_in_place(b);
  est.lo = est.hi = est.ratio;
  if (base.size() < 2 || cand.size() < 2 || resamples < 10) return est;
  // mt19937_64 output is fixed by the standard; the modulo (unlike the
  // distributions) is too, so the interval is identical on every platform.
  std::mt19937_64 rng(seed);
  std::vector<double> ratios(static_cast<size_t>(resamples));
  for (double& r : ratios) {
    for (double& x : b) x = base[rng() % base.size()];
    for (double& x : c) x = cand[rng() % cand.size()];
    r = median_in_place(c) / median_in_place(b);
  }
  std::sort(ratios.begin(), ratios.end());
  double tail = (1 - confidence) / 2;
  est.lo = percentile(ratios, tail);
  est.hi = percentile(ratios, 1 - tail);
  est.has_interval = true;
  return est;
}

RunComparison compare_runs(const RunData& base, const RunData& cand, double threshold) {
  RunComparison out;
  out.base_run = base.run.id;
  out.cand_run = cand.run.id;
  out.base_label = base.run.label();
  out.cand_label = cand.run.label();
  out.threshold = threshold;
  std::map<std::string, const CaseResult*> base_ok, cand_ok;
  for (const CaseResult& c : base.cases)
    if (c.status == "ok") base_ok[c.case_key] = &c;
  for (const CaseResult& c : cand.cases)
    if (c.status == "ok") cand_ok[c.case_key] = &c;

  for (const CaseResult& c : cand.cases) {
    if (c.status != "ok") continue;
    auto it = base_ok.find(c.case_key);
    if (it == base_ok.end()) {
      out.only_cand.push_back(&c);
      continue;
    }
    CaseComparison cc{it->second, &c, std::nullopt, Verdict::untimed, {}};
    std::vector<double> bs = seconds_of(*it->second), cs = seconds_of(c);
    // Runs written without samples still compare on their stored medians.
    if (usable(bs).empty()) bs = {median_seconds(*it->second).value_or(NAN)};
    if (usable(cs).empty()) cs = {median_seconds(c).value_or(NAN)};
    cc.time = bootstrap_median_ratio(bs, cs);
    cc.verdict = time_verdict(cc.time, threshold);
    for (const QualitySpec& q : kQuality) {
      QualityDelta d = quality_delta(q, *it->second, c);
      if (d.base || d.cand) cc.quality.push_back(std::move(d));
    }
    out.cases.push_back(std::move(cc));
  }
  for (const CaseResult& c : base.cases)
    if (c.status == "ok" && !cand_ok.count(c.case_key)) out.only_base.push_back(&c);
  return out;
}

}  // namespace attnbench::reports
