#include "ab_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>

#include <unistd.h>

#include "attnbench/dtype.h"
#include "campaigns.h"
#include "case_executor.h"
#include "environment.h"
#include "plugin_loader.h"
#include "results_store.h"
#include "run_lock.h"
#include "run_supervisor.h"
#include "stored_peaks.h"
#include "suite_file.h"

namespace attnbench {
namespace {

/// Pairs per case unless --repetitions says otherwise: enough for p ~ 0.002 when every
/// pair agrees, and for a verdict despite a pair or two that disagree.
constexpr int kDefaultPairs = 10;

/// A private folder where both sides' workers share generated inputs (input_file.h): in
/// memory (/dev/shm) where there is one, removed with everything in it at the end.
class SharedInputs {
 public:
  SharedInputs() {
    std::error_code ec;
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm", ec) && access("/dev/shm", W_OK) == 0
            ? std::filesystem::path("/dev/shm")
            : std::filesystem::temp_directory_path(ec);
    std::string tmpl = (base / "attnbench-ab-XXXXXX").string();
    if (mkdtemp(tmpl.data())) dir_ = tmpl;  // without one, every worker generates its own
  }
  ~SharedInputs() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  SharedInputs(const SharedInputs&) = delete;
  SharedInputs& operator=(const SharedInputs&) = delete;
  const std::string& dir() const { return dir_; }
  /// Drops the inputs of the case just finished: hundreds of MB each, in memory.
  void clear() const {
    std::error_code ec;
    if (dir_.empty()) return;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) std::filesystem::remove(e.path(), ec);
  }

 private:
  std::string dir_;
};

/// One side of the comparison: its plugin, its supervisor, its stored run.
struct Side {
  std::string label, dir, options;
  std::string plugin_path;
  int devices = 1;
  std::unique_ptr<RunSupervisor> supervisor;
  int64_t run_id = 0;
  std::optional<RunLock> lock;
};

/// Finds the backend's plugin in `dir` (scanned on its own, so the other side's build
/// cannot shadow it). Throws std::invalid_argument naming the folder.
std::vector<std::string> backends_in(const std::string& dir, Side& side, const std::string& wanted) {
  if (!std::filesystem::is_directory(dir)) throw std::invalid_argument(fmt::format("plugin folder '{}' not found", dir));
  const PluginScan scan = scan_plugins({dir});
  std::vector<std::string> names;
  for (const auto& p : scan.plugins) {
    names.push_back(p->name());
    if (p->name() == wanted) {
      side.plugin_path = p->path();
      side.devices = std::max(1, static_cast<int>(p->table().device_count()));
    }
  }
  return names;
}

std::string pick_backend(const AbOptions& o, Side& a, Side& b) {
  const std::vector<std::string> in_a = backends_in(o.dir_a, a, o.backend), in_b = backends_in(o.dir_b, b, o.backend);
  std::string name = o.backend;
  if (name.empty()) {
    std::vector<std::string> both;
    for (const auto& n : in_a)
      if (std::find(in_b.begin(), in_b.end(), n) != in_b.end()) both.push_back(n);
    if (both.size() != 1)
      throw std::invalid_argument(fmt::format("--a and --b hold {} common backends ({}); name one with --backend",
                                              both.size(), fmt::join(both, ", ")));
    name = both[0];
    backends_in(o.dir_a, a, name);
    backends_in(o.dir_b, b, name);
  }
  if (a.plugin_path.empty()) throw std::invalid_argument(fmt::format("no '{}' plugin in '{}'", name, o.dir_a));
  if (b.plugin_path.empty()) throw std::invalid_argument(fmt::format("no '{}' plugin in '{}'", name, o.dir_b));
  return name;
}

/// Metrics a single-repetition record computes from its one sample; recomputed over
/// all the case's repetitions when the side's record is assembled.
bool timing_metric(const std::string& name) {
  static const std::set<std::string> names = {"time_median",          "time_min",           "time_mad",
                                              "flops_per_second",     "bytes_per_second",   "fraction_peak_flops",
                                              "fraction_peak_bandwidth", "harness_overhead_per_call", "case_wall_time"};
  return names.count(name) > 0;
}

/// One side's record of a case from its per-repetition records: quality metrics of the
/// checked first repetition, every sample, timing metrics over all of them.
store::CaseRecord assemble(const std::vector<store::CaseRecord>& reps, const ab_peaks& peaks) {
  store::CaseRecord rec = reps.front();
  rec.samples.clear();
  std::erase_if(rec.metrics, [](const store::Metric& m) { return timing_metric(m.name); });
  double overhead = 0, wall = 0;
  int overheads = 0;
  for (const auto& r : reps) {
    if (r.status != "ok" && rec.status == "ok") {
      rec.status = r.status;
      rec.message = r.message;
    }
    for (const auto& s : r.samples)
      rec.samples.push_back({static_cast<int>(rec.samples.size()), s.iterations, s.seconds});
    for (const auto& m : r.metrics) {
      if (m.name == "harness_overhead_per_call") overhead += m.value, ++overheads;
      if (m.name == "case_wall_time") wall += m.value;
    }
  }
  if (!rec.samples.empty()) {
    const double median = add_time_metrics(rec);
    add_throughput_metrics(rec, median, peaks, rec.phase == "recall" ? AB_F32 : parse_dtype(rec.dtype));
  }
  if (overheads) rec.metrics.push_back({"harness_overhead_per_call", overhead / overheads, "s"});
  rec.metrics.push_back({"case_wall_time", wall, "s"});
  return rec;
}

double median_of(const store::CaseRecord& r) {
  for (const auto& m : r.metrics)
    if (m.name == "time_median") return m.value;
  return 0;
}

/// The paired comparison of two sides' samples (pair i = sample i of each) over the
/// pairs both have; nullopt below two pairs.
std::optional<compare::PairedComparison> compare_samples(const std::vector<store::CaseRecord::Sample>& a,
                                                         const std::vector<store::CaseRecord::Sample>& b,
                                                         const compare::CompareOptions& o) {
  const size_t n = std::min(a.size(), b.size());
  if (n < 2) return std::nullopt;
  std::vector<double> ta, tb;
  for (size_t i = 0; i < n; ++i) ta.push_back(a[i].seconds), tb.push_back(b[i].seconds);
  return compare::compare_paired(ta, tb, o);
}

AbCase verdict(const store::CaseRecord& a, const store::CaseRecord& b, const compare::CompareOptions& o) {
  AbCase v;
  v.case_key = a.case_key;
  v.status_a = a.status;
  v.status_b = b.status;
  v.median_a = median_of(a);
  v.median_b = median_of(b);
  if (a.status == "ok" && b.status == "ok") v.time = compare_samples(a.samples, b.samples, o);
  return v;
}

/// After the first pairs: whether another pair could still change the case's verdict
/// (its interval straddles a threshold). Noisy cases get more pairs, clear ones stop.
bool more_pairs_help(const std::vector<store::CaseRecord>& ra, const std::vector<store::CaseRecord>& rb,
                     const compare::CompareOptions& o) {
  std::vector<store::CaseRecord::Sample> sa, sb;
  for (size_t i = 0; i < ra.size() && i < rb.size(); ++i) {
    if (ra[i].status != "ok" || rb[i].status != "ok" || ra[i].samples.empty() || rb[i].samples.empty()) return false;
    sa.push_back(ra[i].samples.front());
    sb.push_back(rb[i].samples.front());
  }
  const auto c = compare_samples(sa, sb, o);
  return c && compare::verdict_open(*c, o);
}

std::string case_line(const AbCase& c, size_t index, size_t total) {
  if (!c.time)
    return fmt::format("[{}/{}] {}: A {}, B {}{}", index, total, c.case_key, c.status_a, c.status_b,
                       c.status_a == "ok" && c.status_b == "ok" ? " (not timed)" : "");
  const auto& t = *c.time;
  return fmt::format("[{}/{}] {}: A {:.4g} ms, B {:.4g} ms, {} pairs, B/A {:.3f} [{:.3f}, {:.3f}] p={:.3g} {}", index,
                     total, c.case_key, c.median_a * 1e3, c.median_b * 1e3, t.pairs, t.ratio, t.lo, t.hi,
                     t.test.p_value, t.slower ? "SLOWER" : t.faster ? "faster" : "same");
}

}  // namespace

int AbResult::slower() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](const AbCase& c) { return c.time && c.time->slower; }));
}
int AbResult::faster() const {
  return static_cast<int>(std::count_if(cases.begin(), cases.end(), [](const AbCase& c) { return c.time && c.time->faster; }));
}
int AbResult::failed() const {
  return static_cast<int>(
      std::count_if(cases.begin(), cases.end(), [](const AbCase& c) { return c.status_a != "ok" || c.status_b != "ok"; }));
}

AbResult run_ab(const AbOptions& o) {
  Side a, b;
  a.label = "A", a.dir = o.dir_a, a.options = o.options_a;
  b.label = "B", b.dir = o.dir_b, b.options = o.options_b;
  const std::string backend = pick_backend(o, a, b);
  RunSelection sel = o.selection;
  sel.backends = {backend};
  const std::string suites_dir = o.suites_dir.empty() ? default_suites_dir() : o.suites_dir;
  const std::vector<CaseSpec> cases = plan_cases(sel, suites_dir, {backend});
  const SharedInputs shared;
  for (Side* s : {&a, &b}) {
    RunSelection side_sel = sel;
    side_sel.backend_options = s->options;
    SupervisorConfig config;
    config.worker_exe = o.worker_exe.empty() ? worker::self_executable() : o.worker_exe;
    config.selection_json = side_sel.to_json();
    config.suites_dir = suites_dir;
    config.available = {backend};
    config.case_timeout = o.case_timeout;
    config.progress = o.progress;
    config.input_cache_dir = shared.dir();
    SupervisedBackend be;
    be.name = backend;
    be.plugin_path = s->plugin_path;
    be.devices = s->devices;
    be.workers = 1;
    s->supervisor = std::make_unique<RunSupervisor>(config, std::vector<SupervisedBackend>{be});
    s->supervisor->start();  // bad options are refused here, before the database is opened
  }
  if (!o.campaign.empty()) store::check_campaign_name(o.campaign);
  store::ResultsStore db(o.db_path);
  for (Side* s : {&a, &b}) {
    store::RunRecord run = capture_environment();
    run.command_line = fmt::format("{} [side {}: {}]", o.command_line, s->label, s->dir);
    run.seed = static_cast<int64_t>(sel.seed);
    run.quick = sel.quick;
    RunSelection side_sel = sel;
    side_sel.backend_options = s->options;
    run.selection = side_sel.to_json();
    s->run_id = db.begin_run(run);
    s->lock = RunLock::try_acquire(o.db_path, s->run_id);
    if (o.measure_peaks)
      s->supervisor->measure_peaks([&](const SupervisedBackend& be) { store_peaks(db, s->run_id, be); });
  }
  if (o.progress)
    o.progress(fmt::format("ab: runs {} (A: {}) and {} (B: {}), {} cases, repetitions interleaved A, B", a.run_id,
                           o.dir_a, b.run_id, o.dir_b, cases.size()));
  AbResult result;
  result.run_a = a.run_id;
  result.run_b = b.run_id;
  result.campaign = o.campaign.empty() ? fmt::format("ab-{}", a.run_id) : o.campaign;
  store::set_campaign(db, a.run_id, result.campaign);
  store::set_campaign(db, b.run_id, result.campaign);
  for (size_t i = 0; i < cases.size(); ++i) {
    const CaseSpec& c = cases[i];
    std::vector<store::CaseRecord> ra, rb;
    // A suite's 3-5 repetitions cannot make a paired test significant (5 pairs: p >= 0.0625).
    const int pairs = sel.repetitions > 0 ? sel.repetitions : std::max(c.repetitions, kDefaultPairs);
    for (int r = 0; r < std::max(pairs, o.max_pairs); ++r) {
      if (r >= pairs && !more_pairs_help(ra, rb, o.compare)) break;
      if (o.pairs_per_worker > 0 && r > 0 && r % o.pairs_per_worker == 0)
        for (Side* s : {&a, &b}) s->supervisor->restart_workers();
      const nlohmann::json overrides = {{"repetitions", 1}, {"check", r == 0}};
      // A B, B A, A B, ...: whatever the first call of a pair meets (the other worker's
      // threads still spinning down, caches it left behind) falls on each side equally.
      for (Side* s : r % 2 == 0 ? std::array<Side*, 2>{&a, &b} : std::array<Side*, 2>{&b, &a})
        (s == &a ? ra : rb).push_back(s->supervisor->run_one(c, overrides));
      const bool timed = !ra.back().samples.empty() && !rb.back().samples.empty();
      if (!timed || ra.back().status != "ok" || rb.back().status != "ok") break;
    }
    const store::CaseRecord rec_a = assemble(ra, a.supervisor->backends().front().peaks);
    const store::CaseRecord rec_b = assemble(rb, b.supervisor->backends().front().peaks);
    db.add_case(a.run_id, rec_a);
    db.add_case(b.run_id, rec_b);
    result.cases.push_back(verdict(rec_a, rec_b, o.compare));
    shared.clear();
    if (o.progress) o.progress(case_line(result.cases.back(), i + 1, cases.size()));
  }
  db.finish_run(a.run_id, "complete");
  db.finish_run(b.run_id, "complete");
  return result;
}

std::string format_ab(const AbResult& r, const compare::CompareOptions& o) {
  std::string out;
  for (size_t i = 0; i < r.cases.size(); ++i) out += case_line(r.cases[i], i + 1, r.cases.size()) + "\n";
  out += fmt::format(
      "ab: runs {} (A) and {} (B) of campaign {}: {} cases, {} slower, {} faster, {} not ok on a side "
      "(paired signed-rank test, alpha {}, threshold {:.0f}%)\n",
      r.run_a, r.run_b, r.campaign, r.cases.size(), r.slower(), r.faster(), r.failed(), o.alpha, o.threshold * 100);
  return out;
}

}  // namespace attnbench
