#include "reproduce.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>

#include "results_store.h"
#include "runner.h"

namespace attnbench {
namespace {

// The noisy measurements; every metric not listed is quality, compared bit for bit.
struct NoisyMetric {
  const char* name;
  MetricRule rule;
};
constexpr double kMiB = 1024.0 * 1024.0;
constexpr const char* kRepetitions = "it summarises the timed repetitions, which the time test compares";
constexpr const char* kDerived = "it is derived from time_median, which the time test covers";
constexpr const char* kWallClock = "one wall-clock reading: no tolerance tells scheduling noise from a change";
constexpr NoisyMetric kNoisyMetrics[] = {
    {"time_median", {MetricCheck::time_samples, 0, 0, kRepetitions}},
    {"time_min", {MetricCheck::time_samples, 0, 0, kRepetitions}},
    {"time_mad", {MetricCheck::time_samples, 0, 0, kRepetitions}},
    {"flops_per_second", {MetricCheck::time_samples, 0, 0, kDerived}},
    {"bytes_per_second", {MetricCheck::time_samples, 0, 0, kDerived}},
    {"fraction_peak_flops", {MetricCheck::time_samples, 0, 0, kDerived}},
    {"fraction_peak_bandwidth", {MetricCheck::time_samples, 0, 0, kDerived}},
    {"harness_overhead_per_call",
     {MetricCheck::skipped, 0, 0, "wall minus kernel time per call: sub-microsecond and scheduler-dominated"}},
    {"case_wall_time", {MetricCheck::skipped, 0, 0, kWallClock}},
    {"compress_time", {MetricCheck::skipped, 0, 0, kWallClock}},
    {"decode_time", {MetricCheck::skipped, 0, 0, kWallClock}},
    // The resident-set high-water mark moves by whole pages with allocator arenas, thread
    // stacks and first touch: identical reruns differed by up to 260 KiB (0 vs 266240 B).
    // 1 MiB absolute keeps that out; 10% still catches a kernel that allocates more.
    {"host_memory_peak_extra",
     {MetricCheck::tolerance, 1 * kMiB, 0.10, "page-granular resident-set peak: 1 MiB + 10% tolerance"}},
};

/// Bitwise equality of two doubles; every NaN matches every NaN (SQLite stores NaN as NULL).
bool same_bits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

/// |a - b| within abs + rel * max(|a|, |b|); NaN only matches NaN.
bool within(double a, double b, const MetricRule& rule) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::fabs(a - b) <= rule.abs + rule.rel * std::max(std::fabs(a), std::fabs(b));
}

/// Compares one metric present in both runs by its rule.
void compare_metric(const std::string& key, const std::string& name, double va, double vb, const MetricRule& rule,
                    ReproduceResult& r) {
  if (rule.check == MetricCheck::exact) {
    ++r.quality_checked;
    if (same_bits(va, vb))
      ++r.quality_identical;
    else
      r.mismatches.push_back(fmt::format("{}: {} differs: {:.17g} vs {:.17g}", key, name, va, vb));
  } else if (rule.check == MetricCheck::tolerance) {
    ++r.noisy_checked;
    if (within(va, vb, rule))
      ++r.noisy_within;
    else
      r.mismatches.push_back(fmt::format("{}: {} differs beyond noise: {:.17g} vs {:.17g} ({})", key, name, va, vb,
                                         rule.why));
  }
}

/// Compares every metric of a case; `uncompared` counts, per name, the values left to other checks.
void compare_metrics(const compare::StoredCase& a, const compare::StoredCase& b, ReproduceResult& r,
                     std::map<std::string, int>& uncompared) {
  for (const auto& [name, va] : a.metrics) {
    const MetricRule rule = metric_rule(name);
    if (rule.check == MetricCheck::time_samples || rule.check == MetricCheck::skipped) {
      ++uncompared[name];
      continue;
    }
    const auto it = b.metrics.find(name);
    if (it == b.metrics.end())
      r.mismatches.push_back(fmt::format("{}: metric {} missing in the new run", a.case_key, name));
    else
      compare_metric(a.case_key, name, va, it->second, rule, r);
  }
  for (const auto& [name, vb] : b.metrics) {
    const MetricCheck check = metric_rule(name).check;
    if ((check == MetricCheck::exact || check == MetricCheck::tolerance) && !a.metrics.count(name))
      r.mismatches.push_back(fmt::format("{}: metric {} only in the new run", a.case_key, name));
  }
}

/// One note per metric name that was not compared by value, with the reason.
void note_uncompared(const std::map<std::string, int>& uncompared, ReproduceResult& r) {
  for (const auto& [name, cases] : uncompared)
    r.notes.push_back(fmt::format("{} not compared by value ({} case{}): {}", name, cases, cases == 1 ? "" : "s",
                                  metric_rule(name).why));
}

}  // namespace

MetricRule metric_rule(const std::string& name) {
  for (const NoisyMetric& m : kNoisyMetrics)
    if (name == m.name) return m.rule;
  return {};
}

bool is_timing_metric(const std::string& name) { return metric_rule(name).check != MetricCheck::exact; }

ReproduceResult check_reproduction(const compare::StoredRun& original, const compare::StoredRun& again,
                                   const compare::CompareOptions& o) {
  ReproduceResult r;
  r.original_run = original.run.id;
  r.new_run = again.run.id;
  r.comparison = compare::compare_runs(original, again, o);
  std::map<std::string, int> uncompared;
  for (const auto& cc : r.comparison.cases) {
    using compare::Verdict;
    if (cc.verdict == Verdict::only_base || cc.verdict == Verdict::only_cand || cc.verdict == Verdict::not_comparable) {
      r.mismatches.push_back(fmt::format("{}: {} ({})", cc.case_key, compare::verdict_name(cc.verdict),
                                         cc.reasons.empty() ? "" : cc.reasons.front()));
      continue;
    }
    if (cc.status_base != cc.status_cand)
      r.mismatches.push_back(fmt::format("{}: status {} -> {}", cc.case_key, cc.status_base, cc.status_cand));
    // Reproduction is two-sided: a run that got significantly faster did not reproduce either.
    if (cc.time && (cc.time->slower || cc.time->faster))
      r.mismatches.push_back(fmt::format("{}: time {}", cc.case_key, cc.time->note));
    const auto* a = original.find(cc.case_key);
    const auto* b = again.find(cc.case_key);
    if (a && b) compare_metrics(*a, *b, r, uncompared);
  }
  note_uncompared(uncompared, r);
  auto note = [&](const char* what, const std::string& x, const std::string& y) {
    if (x != y) r.notes.push_back(fmt::format("{} differs: '{}' (run {}) vs '{}' (run {})", what, x, original.run.id, y,
                                              again.run.id));
  };
  note("git_sha", original.run.git_sha, again.run.git_sha);
  note("build_type", original.run.build_type, again.run.build_type);
  note("compiler", original.run.compiler, again.run.compiler);
  note("host", original.run.host, again.run.host);
  note("cpu", original.run.cpu, again.run.cpu);
  note("gpu", original.run.gpu, again.run.gpu);
  if (original.run.status == "incomplete")
    r.notes.push_back(fmt::format("run {} is incomplete: cases it never stored show as only in the new run",
                                  original.run.id));
  return r;
}

ReproduceResult reproduce_run(const ReproduceOptions& opts, const PluginScan& plugins) {
  RunSelection sel;
  {
    store::ResultsStore db(opts.db_path, /*read_only=*/true);
    const auto run = db.load_run(opts.run_id);
    if (!run) throw std::invalid_argument(fmt::format("run {} not found in '{}'", opts.run_id, opts.db_path));
    try {
      sel = RunSelection::from_json(run->selection);
    } catch (const std::exception& e) {
      throw std::invalid_argument(
          fmt::format("run {} has an unreadable stored selection ({}); it cannot be reproduced", opts.run_id, e.what()));
    }
  }
  RunOptions ro;
  ro.db_path = opts.db_path;
  ro.suites_dir = opts.suites_dir;
  ro.measure_peaks = opts.measure_peaks;
  ro.command_line = opts.command_line;
  ro.progress = opts.progress;
  const RunSummary summary = execute_run(sel, ro, plugins);

  store::ResultsStore db(opts.db_path, /*read_only=*/true);
  const compare::StoredRun original = compare::load_stored_run(db, opts.run_id);
  const compare::StoredRun again = compare::load_stored_run(db, summary.run_id);
  return check_reproduction(original, again, opts.compare);
}

}  // namespace attnbench
