#include "runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include <re2/re2.h>

#include "campaigns.h"
#include "environment.h"
#include "recall_suite.h"
#include "results_store.h"
#include "run_lock.h"
#include "run_supervisor.h"
#include "stored_cases.h"
#include "stored_peaks.h"
#include "suite_file.h"
#include "trace_suite.h"
#include "variant_registry.h"

namespace attnbench {

std::string RunSelection::to_json() const {
  return nlohmann::json{{"suites", suites},   {"backends", backends}, {"variants", variants},
                        {"filter", filter},   {"quick", quick},       {"seed", seed},
                        {"shard", {shard_index, shard_count}},        {"repetitions", repetitions},
                        {"cold", cold},       {"cold_bytes", cold_bytes},
                        {"backend_options", backend_options}, {"methods", methods},
                        {"budgets", budgets}, {"compression_ratios", compression_ratios}, {"traces", traces}}
      .dump();
}

RunSelection RunSelection::from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  RunSelection s;
  s.suites = j.at("suites").get<std::vector<std::string>>();
  s.backends = j.at("backends").get<std::vector<std::string>>();
  s.variants = j.at("variants").get<std::vector<std::string>>();
  s.filter = j.at("filter");
  s.quick = j.at("quick");
  s.seed = j.at("seed");
  s.shard_index = j.at("shard").at(0);
  s.shard_count = j.at("shard").at(1);
  s.repetitions = j.at("repetitions");
  s.cold = j.value("cold", false);
  s.cold_bytes = j.value("cold_bytes", uint64_t{0});
  s.backend_options = j.at("backend_options");
  // Runs stored before recall selections existed have neither key.
  s.methods = j.value("methods", std::vector<std::string>{});
  s.budgets = j.value("budgets", std::vector<int>{});
  s.compression_ratios = j.value("compression_ratios", std::vector<double>{});
  s.traces = j.value("traces", std::vector<std::string>{});
  return s;
}

namespace {

bool glob_matches(const std::string& glob, const CaseSpec& c) {
  return fnmatch(glob.c_str(), c.config.variant.c_str(), 0) == 0 ||
         fnmatch(glob.c_str(), c.config.canonical().c_str(), 0) == 0;
}

/// Marks in `hit` every glob that matches `c`; true if one does (or there are none).
bool mark_variant_globs(const std::vector<std::string>& globs, const CaseSpec& c, std::vector<bool>& hit) {
  if (globs.empty()) return true;
  bool any = false;
  for (size_t i = 0; i < globs.size(); ++i)
    if (glob_matches(globs[i], c)) any = hit[i] = true;
  return any;
}

bool mark_method_globs(const std::vector<std::string>& globs, const RecallCaseSpec& r, std::vector<bool>& hit) {
  bool any = false;
  for (size_t i = 0; i < globs.size(); ++i)
    if (method_selected({globs[i]}, r)) any = hit[i] = true;
  return any;
}

/// Which --variant and --method globs matched some case, so that a glob matching
/// nothing is reported instead of silently selecting less.
struct SelectionHits {
  std::vector<bool> variants, methods;
};

/// Whether the selection keeps case `c`. --variant selects attention cases; in a recall
/// suite --method and --variant pick from one grid (KV methods and attention variants on
/// the same tasks), so naming only one of them keeps only that kind of recall case.
bool selected(const RunSelection& sel, const CaseSpec& c, SelectionHits& hits) {
  if (!c.recall) return mark_variant_globs(sel.variants, c, hits.variants);
  if (c.recall->is_variant())
    return sel.variants.empty() ? sel.methods.empty() : mark_variant_globs(sel.variants, c, hits.variants);
  return sel.methods.empty() ? sel.variants.empty() : mark_method_globs(sel.methods, *c.recall, hits.methods);
}

void check_static_selection(const RunSelection& sel, const std::vector<std::string>& available,
                            const std::vector<std::string>& backends) {
  if (sel.suites.empty() && sel.traces.empty())
    throw std::invalid_argument("no suite selected (use --suite NAME[,NAME] or --trace DIR)");
  if (sel.shard_count < 1 || sel.shard_index < 1 || sel.shard_index > sel.shard_count)
    throw std::invalid_argument(fmt::format("invalid shard {}/{} (expected i/N with 1 <= i <= N)", sel.shard_index, sel.shard_count));
  std::set<std::string> suites;
  for (const auto& s : sel.suites)
    if (!suites.insert(s).second) throw std::invalid_argument(fmt::format("suite '{}' is selected twice", s));
  for (const auto& b : backends)
    if (std::find(available.begin(), available.end(), b) == available.end())
      throw std::invalid_argument(fmt::format("unknown backend '{}' (available: {})", b, fmt::join(available, ", ")));
  for (const auto& g : sel.variants) {
    const std::string base = g.substr(0, g.find(':'));
    bool known = false;
    for (const auto& v : all_variants()) known |= fnmatch(base.c_str(), v.name, 0) == 0;
    if (!known) throw std::invalid_argument(fmt::format("no variant matches '{}' (see 'attnbench list variants')", g));
  }
  check_method_globs(sel.methods);
}

/// RE2 matches in time linear in the key, so no --filter can make planning hang.
std::unique_ptr<RE2> compile_filter(const std::string& filter) {
  if (filter.empty()) return nullptr;
  RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<RE2>(filter, o);
  if (!re->ok()) throw std::invalid_argument(fmt::format("invalid --filter regex '{}': {}", filter, re->error()));
  return re;
}

}  // namespace

std::vector<CaseSpec> plan_cases(const RunSelection& sel, const std::string& suites_dir,
                                 const std::vector<std::string>& available) {
  std::vector<std::string> backends = sel.backends.empty() ? available : sel.backends;
  check_static_selection(sel, available, backends);
  const std::unique_ptr<RE2> filter = compile_filter(sel.filter);
  SelectionHits hits{std::vector<bool>(sel.variants.size()), std::vector<bool>(sel.methods.size())};
  size_t n_selected = 0, n_filtered = 0;
  std::map<std::string, std::string> origin;  // case key -> where it came from
  std::vector<CaseSpec> cases;
  // Suite names first, then the traces (--trace DIR: every KV method and variant on it).
  std::vector<std::string> sources = sel.suites;
  for (const auto& t : sel.traces) sources.push_back("--trace " + t);
  for (size_t si = 0; si < sources.size(); ++si) {
    const Suite suite = si < sel.suites.size() ? load_suite(resolve_suite(suites_dir, sel.suites[si]), sel.quick)
                                               : trace_suite(sel.traces[si - sel.suites.size()], sel.quick);
    const std::vector<CaseSpec> suite_cases = override_budgets(suite.cases, sel.budgets, sel.compression_ratios);
    auto admit = [&](CaseSpec c, const std::string& backend) {
      c.backend = backend;
      if (sel.repetitions > 0) c.repetitions = sel.repetitions;
      c.cold = sel.cold;
      c.cold_bytes = sel.cold_bytes;
      if (!selected(sel, c, hits)) return;
      ++n_selected;
      const std::string key = c.key();
      if (filter && !RE2::PartialMatch(key, *filter)) return;
      // Two groups expanding to one case would collide in the store half-way through
      // the run; refuse the plan before anything is written.
      const std::string from = fmt::format("suite '{}' group '{}'", c.suite, c.group);
      if (const auto [it, fresh] = origin.emplace(key, from); !fresh)
        throw std::invalid_argument(fmt::format("case '{}' is planned twice ({}, and {})", key, it->second, from));
      // Shards take every N-th case so that each gets a similar mix of sizes.
      if (n_filtered++ % sel.shard_count != static_cast<size_t>(sel.shard_index - 1)) return;
      cases.push_back(std::move(c));
    };
    // One kind of case: attention, recall-variant and KV-method cases all run on every
    // selected backend (KV methods through its KV primitives).
    for (const auto& backend : backends)
      for (const CaseSpec& c : suite_cases) admit(c, backend);
  }
  const std::string suites = fmt::format("{}", fmt::join(sources, ","));
  for (size_t i = 0; i < sel.variants.size(); ++i)
    if (!hits.variants[i])
      throw std::invalid_argument(fmt::format("--variant '{}' matches no case of suite {} on backend {}", sel.variants[i],
                                              suites, fmt::join(backends, ",")));
  for (size_t i = 0; i < sel.methods.size(); ++i)
    if (!hits.methods[i])
      throw std::invalid_argument(fmt::format("--method '{}' matches no case of suite {}", sel.methods[i], suites));
  if (n_selected == 0)
    throw std::invalid_argument(fmt::format("suite {} has no case for backend {}", suites, fmt::join(backends, ",")));
  if (n_filtered == 0)
    throw std::invalid_argument(fmt::format("--filter '{}' matches none of the {} selected cases", sel.filter, n_selected));
  if (cases.empty())
    throw std::invalid_argument(fmt::format("shard {}/{} is empty: the selection has only {} cases", sel.shard_index,
                                            sel.shard_count, n_filtered));
  return cases;
}

namespace {

void say(const RunOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

/// One line per finished case: the headline numbers of its phase (FLOP/s for
/// prefill, bandwidth for decode, error for correctness, accuracy for recall). A sparse
/// variant's FLOP/s and fraction of peak are of the work it did (dense-equivalent FLOPs
/// times its attended fraction), as in the report, so none reads above 100%.
std::string progress_line(const CaseSpec& c, const store::CaseRecord& rec, int index, size_t total) {
  std::string detail;
  const bool memory_bound = c.phase == "decode";
  double work = 1.0;
  for (const auto& m : rec.metrics)
    if (m.name == "attended_fraction" && m.value > 0) work = m.value;
  for (const auto& m : rec.metrics) {
    if (m.name == "time_median") detail += fmt::format(" {:.3f} ms", m.value * 1e3);
    if (m.name == "flops_per_second" && !memory_bound)
      detail += fmt::format(" {:.1f} GFLOP/s{}", m.value * work / 1e9, work < 1.0 ? " attended" : "");
    if (m.name == "fraction_peak_flops" && !memory_bound) detail += fmt::format(" ({:.0f}% peak)", m.value * work * 100);
    if (m.name == "bytes_per_second" && memory_bound) detail += fmt::format(" {:.1f} GB/s", m.value / 1e9);
    if (m.name == "fraction_peak_bandwidth" && memory_bound) detail += fmt::format(" ({:.0f}% peak)", m.value * 100);
    if (m.name == "rel_error" && c.phase == "correctness") detail += fmt::format(" err {:.1e}", m.value);
    if (m.name == "recall_accuracy") detail += fmt::format(" acc {:.2f}", m.value);
    if (m.name == "compression_ratio" && rec.status == "ok") detail += fmt::format(" {:.1f}x", m.value);
  }
  if (!rec.message.empty()) detail += " - " + rec.message;
  return fmt::format("[{}/{}] {} {} {} {}: {}{}", index, total, c.suite, c.backend, rec.config, rec.shape, rec.status,
                     detail);
}

/// The backends the planned cases run on, with the plugin each worker loads and how
/// many workers it gets: one per device (--jobs caps it, or asks for more on a
/// single-device backend, which then share it).
std::vector<SupervisedBackend> supervised_backends(const std::vector<CaseSpec>& cases, const PluginScan& plugins,
                                                   int jobs) {
  std::vector<SupervisedBackend> out;
  std::set<std::string> seen;
  for (const CaseSpec& c : cases) {
    if (!seen.insert(c.backend).second) continue;
    SupervisedBackend b;
    b.name = c.backend;
    for (const auto& p : plugins.plugins)
      if (p->name() == c.backend) {
        b.plugin_path = p->path();
        b.devices = std::max(1, static_cast<int>(p->table().device_count()));
      }
    b.workers = jobs > 0 ? (b.devices > 1 ? std::min(jobs, b.devices) : jobs) : b.devices;
    out.push_back(std::move(b));
  }
  return out;
}

void count(RunSummary& s, const std::string& status) {
  if (status == "ok") ++s.ok;
  else if (status == "failed") ++s.failed;
  else if (status == "unsupported") ++s.unsupported;
  else if (status == "no_device") ++s.no_device;
  else if (status == "oom") ++s.oom;
  else if (status == "crashed") ++s.crashed;
  else if (status == "timeout") ++s.timeout;
  else ++s.error;
}

bool retried(const std::string& status) { return status == "crashed" || status == "timeout"; }

/// A store failure in the middle of a run leaves it incomplete: say how to finish it.
[[noreturn]] void rethrow_with_resume_hint(const store::StoreError& e, int64_t run_id, const std::string& db_path) {
  throw store::StoreError(fmt::format("{}; run {} is incomplete, finish it with: attnbench run --resume {} --db {}",
                                      e.what(), run_id, run_id, db_path));
}

}  // namespace

RunSummary execute_run(RunSelection sel, const RunOptions& opts, const PluginScan& plugins) {
  // A fresh run plans (and so validates) everything before it touches the database,
  // so bad input never creates or changes a file. --resume needs the stored selection.
  std::unique_ptr<store::ResultsStore> db;
  std::optional<store::RunRecord> resumed;
  std::optional<RunLock> lock;
  if (opts.resume_run) {
    if (!std::filesystem::exists(opts.db_path))
      throw std::invalid_argument(fmt::format("database '{}' not found", opts.db_path));
    db = std::make_unique<store::ResultsStore>(opts.db_path);
    resumed = db->load_run(*opts.resume_run);
    if (!resumed) throw std::invalid_argument(fmt::format("run {} not found in '{}'", *opts.resume_run, opts.db_path));
    if (resumed->status == "complete" && !opts.retry_failed)
      throw std::invalid_argument(fmt::format("run {} is already complete", resumed->id));
    lock = RunLock::try_acquire(opts.db_path, resumed->id);
    if (!lock)
      throw std::invalid_argument(fmt::format("run {} is being run or resumed elsewhere (another attnbench process holds it)",
                                              resumed->id));
    try {
      sel = RunSelection::from_json(resumed->selection);
    } catch (const std::exception& e) {
      throw std::invalid_argument(fmt::format("run {} has an unreadable selection: {}", resumed->id, e.what()));
    }
  }
  std::vector<std::string> available, with_device;
  for (const auto& p : plugins.plugins) {
    available.push_back(p->name());
    if (p->table().device_count() > 0) with_device.push_back(p->name());
  }
  // By default a run uses the backends that have a device here; a backend named with
  // --backend but without a device still gets its cases, stored as `no_device`.
  // The resolved list is what the run stores, so --resume plans the same cases.
  if (sel.backends.empty()) sel.backends = with_device;
  const std::string suites_dir = opts.suites_dir.empty() ? default_suites_dir() : opts.suites_dir;
  const std::vector<CaseSpec> cases = plan_cases(sel, suites_dir, available);
  if (!opts.campaign.empty()) store::check_campaign_name(opts.campaign);

  SupervisorConfig config;
  config.worker_exe = opts.worker_exe.empty() ? worker::self_executable() : opts.worker_exe;
  config.selection_json = sel.to_json();
  config.suites_dir = suites_dir;
  config.available = available;
  config.case_timeout = opts.case_timeout;
  config.progress = opts.progress;
  RunSupervisor supervisor(config, supervised_backends(cases, plugins, opts.jobs));
  supervisor.start();  // bad backend options are refused here, before the database is touched
  if (!db) db = std::make_unique<store::ResultsStore>(opts.db_path);

  RunSummary summary;
  std::map<std::string, std::string> stored;
  if (resumed) {
    summary.run_id = resumed->id;
    stored = store::stored_case_statuses(*db, resumed->id);
    std::vector<std::string> again;
    if (opts.retry_failed)
      for (const auto& [key, status] : stored)
        if (retried(status)) again.push_back(key);
    if (resumed->status == "complete") {
      if (again.empty())
        throw std::invalid_argument(fmt::format("run {} is complete and has no crashed or timed-out case to retry", resumed->id));
      db->finish_run(resumed->id, "incomplete");  // until the retried cases are stored again
    }
    store::forget_cases(*db, resumed->id, again);
    for (const auto& key : again) stored.erase(key);
    say(opts, fmt::format("resuming run {}: {} of {} cases already stored{}", resumed->id, stored.size(), cases.size(),
                          again.empty() ? "" : fmt::format(", {} crashed or timed-out cases run again", again.size())));
  } else {
    store::RunRecord run = capture_environment();
    run.command_line = opts.command_line;
    run.seed = static_cast<int64_t>(sel.seed);
    run.quick = sel.quick;
    run.selection = sel.to_json();
    for (const auto& b : supervisor.backends()) {
      if (b.name == "cpu" || b.device_name == "none") continue;
      run.gpu += (run.gpu.empty() ? "" : "; ") + fmt::format("{}: {}", b.name, b.device_name);
      if (!b.driver.empty()) run.driver += (run.driver.empty() ? "" : "; ") + b.driver;
    }
    summary.run_id = db->begin_run(run);
    lock = RunLock::try_acquire(opts.db_path, summary.run_id);
    if (!opts.campaign.empty()) store::set_campaign(*db, summary.run_id, opts.campaign);
    say(opts, fmt::format("run {}: {} cases into {}", summary.run_id, cases.size(), opts.db_path));
  }
  if (opts.measure_peaks)
    supervisor.measure_peaks([&](const SupervisedBackend& b) {
      store_peaks(*db, summary.run_id, b);
      say(opts, fmt::format("{} peaks: {:.1f} GFLOP/s fp32, {:.1f} bf16, {:.1f} fp16, {:.1f} GB/s, cache {:.0f} MiB",
                            b.name, b.peaks.flops_f32 / 1e9, b.peaks.flops_bf16 / 1e9, b.peaks.flops_f16 / 1e9,
                            b.peaks.bytes_per_second / 1e9, b.peaks.cache_bytes / (1 << 20)));
    });

  summary.total = static_cast<int>(cases.size());
  std::vector<const CaseSpec*> todo;
  for (const CaseSpec& c : cases) {
    const auto it = stored.find(c.key());
    if (it == stored.end()) {
      todo.push_back(&c);
      continue;
    }
    // The summary (and so the exit code) covers the whole run, not just this session.
    ++summary.resumed_skipped;
    count(summary, it->second);
  }
  int index = summary.resumed_skipped;
  try {
    supervisor.run(todo, [&](const CaseSpec& c, store::CaseRecord rec) {
      db->add_case(summary.run_id, rec);
      count(summary, rec.status);
      say(opts, progress_line(c, rec, ++index, cases.size()));
    });
    db->finish_run(summary.run_id, "complete");
  } catch (const store::StoreError& e) {
    rethrow_with_resume_hint(e, summary.run_id, opts.db_path);
  }
  return summary;
}

}  // namespace attnbench
