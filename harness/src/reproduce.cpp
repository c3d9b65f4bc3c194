#include "reproduce.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "results_store.h"
#include "runner.h"

namespace attnbench {
namespace {

/// Bitwise equality of two doubles; every NaN matches every NaN (SQLite stores NaN as NULL).
bool same_bits(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b);
}

void compare_quality_bits(const compare::StoredCase& a, const compare::StoredCase& b, ReproduceResult& r) {
  for (const auto& [name, va] : a.metrics) {
    if (is_timing_metric(name)) continue;
    const auto it = b.metrics.find(name);
    if (it == b.metrics.end()) {
      r.mismatches.push_back(fmt::format("{}: metric {} missing in the new run", a.case_key, name));
      continue;
    }
    ++r.quality_checked;
    if (same_bits(va, it->second))
      ++r.quality_identical;
    else
      r.mismatches.push_back(fmt::format("{}: {} differs: {:.17g} vs {:.17g}", a.case_key, name, va, it->second));
  }
  for (const auto& [name, vb] : b.metrics)
    if (!is_timing_metric(name) && !a.metrics.count(name))
      r.mismatches.push_back(fmt::format("{}: metric {} only in the new run", a.case_key, name));
}

}  // namespace

bool is_timing_metric(const std::string& name) {
  return name.starts_with("time_") || name.ends_with("_time") || name.find("per_second") != std::string::npos ||
         name.starts_with("fraction_peak") || name == "harness_overhead_per_call";
}

ReproduceResult check_reproduction(const compare::StoredRun& original, const compare::StoredRun& again,
                                   const compare::CompareOptions& o) {
  ReproduceResult r;
  r.original_run = original.run.id;
  r.new_run = again.run.id;
  r.comparison = compare::compare_runs(original, again, o);
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
    if (a && b) compare_quality_bits(*a, *b, r);
  }
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
