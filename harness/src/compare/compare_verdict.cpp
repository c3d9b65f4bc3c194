#include "compare_verdict.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

namespace attnbench::compare {
namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

/// Compares one quality metric; NaN counts as the worst possible value.
MetricChange compare_metric(const std::string& name, const StoredCase& base, const StoredCase& cand,
                            const CompareOptions& o) {
  MetricChange m;
  m.name = name;
  if (auto it = base.metrics.find(name); it != base.metrics.end()) m.base = it->second;
  if (auto it = cand.metrics.find(name); it != cand.metrics.end()) m.cand = it->second;
  if (m.base && !m.cand) {
    m.worse = true;
    m.note = fmt::format("{} missing in the candidate", name);
    return m;
  }
  if (!m.base || !m.cand) return m;  // new metric: nothing to hold it to
  const double b = *m.base, c = *m.cand;
  if (std::isnan(b) || std::isnan(c)) {
    m.worse = !std::isnan(b) && std::isnan(c);
    m.better = std::isnan(b) && !std::isnan(c);
    if (m.worse) m.note = fmt::format("{} became NaN", name);
    return m;
  }
  if (contains(accuracy_metrics(), name)) {
    m.worse = c < b - o.recall_tolerance;
    m.better = c > b + o.recall_tolerance;
    if (m.worse) m.note = fmt::format("{} dropped {:.4g} -> {:.4g}", name, b, c);
  } else if (name == "nonfinite_outputs") {
    m.worse = c > b;
    m.better = c < b;
    if (m.worse) m.note = fmt::format("{} grew {:.0f} -> {:.0f}", name, b, c);
  } else {
    const double allowed = o.error_abs + o.error_rel * std::abs(b);
    m.worse = c > b + allowed;
    m.better = c < b - allowed;
    if (m.worse) m.note = fmt::format("{} grew {:.3g} -> {:.3g} (allowed +{:.2g})", name, b, c, allowed);
  }
  return m;
}

/// Status, time and quality for a key present in both runs with matching fingerprints.
void judge(const StoredCase& b, const StoredCase& c, const CompareOptions& o, CaseComparison& out) {
  const bool b_ok = b.status == "ok", c_ok = c.status == "ok";
  if (is_failure_status(c.status) && !is_failure_status(b.status)) {
    out.verdict = Verdict::regression;
    out.reasons.push_back(fmt::format("status {} -> {}{}", b.status, c.status, c.message.empty() ? "" : ": " + c.message));
    return;
  }
  if (!c_ok && !is_failure_status(c.status) && b_ok) {
    out.verdict = Verdict::not_comparable;
    out.reasons.push_back(fmt::format("status ok -> {}{}", c.status, c.message.empty() ? "" : ": " + c.message));
    return;
  }
  if (c_ok && !b_ok) {
    out.verdict = Verdict::improvement;
    out.reasons.push_back(fmt::format("status {} -> ok", b.status));
    return;
  }
  if (!b_ok || !c_ok) {
    out.reasons.push_back(b.status == c.status ? fmt::format("{} in both runs", b.status)
                                               : fmt::format("status {} -> {}", b.status, c.status));
    return;
  }
  bool worse = false, better = false;
  if (b.seconds.size() >= 2 && c.seconds.size() >= 2) {
    out.time = compare_times(b.seconds, c.seconds, o);
    worse |= out.time->slower;
    better |= out.time->faster;
    if (out.time->slower || out.time->faster || out.time->inconclusive) out.reasons.push_back(out.time->note);
  }
  std::set<std::string> names;
  for (const auto& list : {error_metrics(), accuracy_metrics()})
    for (const auto& n : list)
      if (b.metrics.count(n) || c.metrics.count(n)) names.insert(n);
  for (const auto& n : names) {
    MetricChange m = compare_metric(n, b, c, o);
    worse |= m.worse;
    better |= m.better;
    if (m.worse) out.reasons.push_back(m.note);
    out.quality.push_back(std::move(m));
  }
  out.verdict = worse ? Verdict::regression : better ? Verdict::improvement : Verdict::pass;
  if (better && !worse && !(out.time && out.time->faster)) out.reasons.push_back("more accurate");
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "pass";
    case Verdict::regression: return "regression";
    case Verdict::improvement: return "improvement";
    case Verdict::not_comparable: return "not comparable";
    case Verdict::only_base: return "only in base";
    case Verdict::only_cand: return "only in candidate";
  }
  return "?";
}

const std::vector<std::string>& error_metrics() {
  static const std::vector<std::string> names = {"rel_error", "output_error_vs_full", "nonfinite_outputs"};
  return names;
}

const std::vector<std::string>& accuracy_metrics() {
  static const std::vector<std::string> names = {"recall_accuracy"};
  return names;
}

TimeComparison compare_times(std::span<const double> base, std::span<const double> cand, const CompareOptions& o) {
  TimeComparison t;
  t.n_base = base.size();
  t.n_cand = cand.size();
  if (base.empty() || cand.empty()) {
    t.inconclusive = true;
    t.note = "no samples";
    return t;
  }
  t.median_base = median_of({base.begin(), base.end()});
  t.median_cand = median_of({cand.begin(), cand.end()});
  t.ratio = t.median_base > 0 ? t.median_cand / t.median_base : 1.0;
  t.test = mann_whitney_u(cand, base);
  const auto positive = [](std::span<const double> v) { return std::all_of(v.begin(), v.end(), [](double x) { return x > 0; }); };
  if (positive(base) && positive(cand)) {
    // Shift of log times = log of the ratio, so the interval is a ratio interval.
    std::vector<double> lb, lc;
    for (double x : base) lb.push_back(std::log(x));
    for (double x : cand) lc.push_back(std::log(x));
    ShiftEstimate e = hodges_lehmann(lb, lc, o.confidence);
    e.estimate = std::exp(e.estimate);
    e.lo = std::exp(e.lo);
    e.hi = std::exp(e.hi);
    t.ratio_ci = e;
  }
  if (t.test.min_p > o.alpha) {
    t.inconclusive = true;
    t.note = fmt::format("too few repetitions ({} vs {}) for p to reach alpha {:g} (smallest p {:.3g})", t.n_base,
                         t.n_cand, o.alpha, t.test.min_p);
    return t;
  }
  const bool significant = t.test.p_value <= o.alpha;
  t.slower = significant && t.ratio > 1 + o.threshold;
  t.faster = significant && t.ratio < 1 / (1 + o.threshold);
  if (t.slower)
    t.note = fmt::format("slower: median x{:.3f} > {:.3f}, p = {:.3g}", t.ratio, 1 + o.threshold, t.test.p_value);
  else if (t.faster)
    t.note = fmt::format("faster: median x{:.3f}, p = {:.3g}", t.ratio, t.test.p_value);
  else if (significant)
    t.note = fmt::format("significant (p = {:.3g}) but within the {:g}% threshold", t.test.p_value, o.threshold * 100);
  else
    t.note = fmt::format("no significant difference (p = {:.3g})", t.test.p_value);
  return t;
}

int Comparison::count(Verdict v) const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [v](const CaseComparison& c) { return c.verdict == v; }));
}

Comparison compare_runs(const StoredRun& base, const StoredRun& cand, const CompareOptions& o) {
  Comparison out;
  out.base = base.run;
  out.cand = cand.run;
  out.base_name = base.name;
  out.cand_name = cand.name;
  out.base_runs = base.run_ids;
  out.cand_runs = cand.run_ids;
  out.options = o;
  std::unordered_map<std::string, const StoredCase*> cand_by_key;
  for (const auto& c : cand.cases) cand_by_key[c.case_key] = &c;
  std::set<std::string> seen;
  for (const auto& b : base.cases) {
    seen.insert(b.case_key);
    CaseComparison cc;
    cc.case_key = b.case_key;
    cc.suite = b.suite;
    cc.backend = b.backend;
    cc.status_base = b.status;
    const auto it = cand_by_key.find(b.case_key);
    if (it == cand_by_key.end()) {
      cc.verdict = Verdict::only_base;
      cc.reasons.push_back("missing from the candidate run");
      out.cases.push_back(std::move(cc));
      continue;
    }
    const StoredCase& c = *it->second;
    cc.status_cand = c.status;
    const auto diff = fingerprint_differences(base, b, cand, c);
    if (!diff.empty()) {
      cc.verdict = Verdict::not_comparable;
      for (const auto& d : diff) cc.reasons.push_back("fingerprint differs in " + d);
    } else {
      judge(b, c, o, cc);
    }
    out.cases.push_back(std::move(cc));
  }
  for (const auto& c : cand.cases) {
    if (seen.count(c.case_key)) continue;
    CaseComparison cc;
    cc.case_key = c.case_key;
    cc.suite = c.suite;
    cc.backend = c.backend;
    cc.status_cand = c.status;
    cc.verdict = Verdict::only_cand;
    cc.reasons.push_back("new in the candidate run");
    out.cases.push_back(std::move(cc));
  }
  return out;
}

AaResult aa_false_alarm(const StoredRun& run, const CompareOptions& o) {
  AaResult r;
  for (const auto& c : run.cases) {
    if (c.status != "ok" || c.seconds.size() < 4) continue;
    ++r.cases;
    std::vector<double> even, odd;
    for (size_t i = 0; i < c.seconds.size(); ++i) (i % 2 ? odd : even).push_back(c.seconds[i]);
    const TimeComparison t = compare_times(even, odd, o);
    if (t.inconclusive) continue;
    ++r.testable;
    r.flagged_slower += t.slower;
    r.flagged_faster += t.faster;
  }
  return r;
}

}  // namespace attnbench::compare
