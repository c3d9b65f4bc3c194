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
#include <regex>
#include <stdexcept>

#include "case_executor.h"
#include "recall_suite.h"
#include "environment.h"
#include "results_store.h"
#include "suite_file.h"
#include "variant_registry.h"

namespace attnbench {

std::string RunSelection::to_json() const {
  return nlohmann::json{{"suites", suites},   {"backends", backends}, {"variants", variants},
                        {"filter", filter},   {"quick", quick},       {"seed", seed},
                        {"shard", {shard_index, shard_count}},        {"repetitions", repetitions},
                        {"backend_options", backend_options}, {"methods", methods},
                        {"budgets", budgets}}
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
  s.backend_options = j.at("backend_options");
  // Runs stored before recall selections existed have neither key.
  s.methods = j.value("methods", std::vector<std::string>{});
  s.budgets = j.value("budgets", std::vector<int>{});
  return s;
}

namespace {

bool matches_any(const std::vector<std::string>& globs, const CaseSpec& c) {
  if (globs.empty()) return true;
  const std::string canonical = c.config.canonical();
  for (const auto& g : globs)
    if (fnmatch(g.c_str(), c.config.variant.c_str(), 0) == 0 || fnmatch(g.c_str(), canonical.c_str(), 0) == 0)
      return true;
  return false;
}

/// Whether the selection keeps case `c`. --variant selects attention cases; in a recall
/// suite --method and --variant pick from one grid (KV methods and attention variants on
/// the same tasks), so naming only one of them keeps only that kind of recall case.
bool selected(const RunSelection& sel, const CaseSpec& c) {
  if (!c.recall) return matches_any(sel.variants, c);
  if (c.recall->is_variant()) return sel.variants.empty() ? sel.methods.empty() : matches_any(sel.variants, c);
  return sel.methods.empty() ? sel.variants.empty() : method_selected(sel.methods, *c.recall);
}

/// True for cases that run on a backend's device (attention cases and recall variant cases).
bool needs_device(const CaseSpec& c) { return !c.recall || c.recall->is_variant(); }

}  // namespace

std::vector<CaseSpec> plan_cases(const RunSelection& sel, const std::string& suites_dir,
                                 const std::vector<std::string>& available) {
  if (sel.suites.empty()) throw std::invalid_argument("no suite selected (use --suite NAME[,NAME])");
  if (sel.shard_count < 1 || sel.shard_index < 1 || sel.shard_index > sel.shard_count)
    throw std::invalid_argument(fmt::format("invalid shard {}/{} (expected i/N with 1 <= i <= N)", sel.shard_index, sel.shard_count));
  std::vector<std::string> backends = sel.backends.empty() ? available : sel.backends;
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
  // KV recall cases need no plugin (the KV methods run in-process), so they go on "cpu"
  // whenever the selection does not exclude it, even if no cpu plugin was loaded.
  const bool recall_on_cpu =
      sel.backends.empty() || std::find(sel.backends.begin(), sel.backends.end(), "cpu") != sel.backends.end();
  std::optional<std::regex> filter;
  if (!sel.filter.empty()) {
    try {
      filter.emplace(sel.filter);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(fmt::format("invalid --filter regex '{}': {}", sel.filter, e.what()));
    }
  }
  std::vector<CaseSpec> cases;
  size_t index = 0;
  for (const auto& name : sel.suites) {
    const Suite suite = load_suite(resolve_suite(suites_dir, name), sel.quick);
    const std::vector<CaseSpec> suite_cases = override_budgets(suite.cases, sel.budgets);
    auto admit = [&](CaseSpec c, const std::string& backend) {
      c.backend = backend;
      if (sel.repetitions > 0) c.repetitions = sel.repetitions;
      if (!selected(sel, c)) return;
      if (filter && !std::regex_search(c.key(), *filter)) return;
      // Shards take every N-th case so that each gets a similar mix of sizes.
      if (index++ % sel.shard_count != static_cast<size_t>(sel.shard_index - 1)) return;
      cases.push_back(std::move(c));
    };
    for (const auto& backend : backends)
      for (const CaseSpec& c : suite_cases)
        if (needs_device(c)) admit(c, backend);
    if (recall_on_cpu)
      for (const CaseSpec& c : suite_cases)
        if (!needs_device(c)) admit(c, "cpu");
  }
  return cases;
}

namespace {

void say(const RunOptions& o, const std::string& line) {
  if (o.progress) o.progress(line);
}

/// One line per finished case: the headline numbers of its phase (FLOP/s for
/// prefill, bandwidth for decode, error for correctness, accuracy for recall).
std::string progress_line(const CaseSpec& c, const store::CaseRecord& rec, int index, size_t total) {
  std::string detail;
  const bool memory_bound = c.phase == "decode";
  for (const auto& m : rec.metrics) {
    if (m.name == "time_median") detail += fmt::format(" {:.3f} ms", m.value * 1e3);
    if (m.name == "flops_per_second" && !memory_bound) detail += fmt::format(" {:.1f} GFLOP/s", m.value / 1e9);
    if (m.name == "fraction_peak_flops" && !memory_bound) detail += fmt::format(" ({:.0f}% peak)", m.value * 100);
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

std::map<std::string, BackendSlot> open_backends(const std::vector<CaseSpec>& cases, const PluginScan& plugins,
                                                 const RunSelection& sel) {
  std::map<std::string, BackendSlot> slots;
  for (const auto& c : cases) {
    if (!needs_device(c)) continue;  // KV recall: in-process on the host, no device to open or peaks to measure
    if (slots.count(c.backend)) continue;
    BackendSlot& slot = slots[c.backend];
    slot.name = c.backend;
    for (const auto& p : plugins.plugins) {
      if (p->name() != c.backend) continue;
      if (p->table().device_count() < 1) {
        slot.no_device_reason = fmt::format("backend '{}' found no device", c.backend);
        break;
      }
      try {
        slot.device = std::make_unique<Backend>(*p, 0, sel.backend_options);
      } catch (const BackendError& e) {
        if (e.status() == AB_INVALID_ARGUMENT) throw std::invalid_argument(e.what());
        slot.no_device_reason = e.what();
      }
    }
  }
  for (const auto& c : cases)
    if (!needs_device(c)) slots[c.backend].name = c.backend;  // keeps a slot opened for device cases
  return slots;
}

}  // namespace

RunSummary execute_run(RunSelection sel, const RunOptions& opts, const PluginScan& plugins) {
  // A fresh run plans (and so validates) everything before it touches the database,
  // so bad input never creates or changes a file. --resume needs the stored selection.
  std::unique_ptr<store::ResultsStore> db;
  std::optional<store::RunRecord> resumed;
  if (opts.resume_run) {
    if (!std::filesystem::exists(opts.db_path))
      throw std::invalid_argument(fmt::format("database '{}' not found", opts.db_path));
    db = std::make_unique<store::ResultsStore>(opts.db_path);
    resumed = db->load_run(*opts.resume_run);
    if (!resumed) throw std::invalid_argument(fmt::format("run {} not found in '{}'", *opts.resume_run, opts.db_path));
    if (resumed->status == "complete") throw std::invalid_argument(fmt::format("run {} is already complete", resumed->id));
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
  const std::vector<CaseSpec> cases =
      plan_cases(sel, opts.suites_dir.empty() ? default_suites_dir() : opts.suites_dir, available);
  std::map<std::string, BackendSlot> slots = open_backends(cases, plugins, sel);
  if (!db) db = std::make_unique<store::ResultsStore>(opts.db_path);

  RunSummary summary;
  std::set<std::string> done;
  if (resumed) {
    summary.run_id = resumed->id;
    done = db->case_keys(resumed->id);
    say(opts, fmt::format("resuming run {}: {} of {} cases already stored", resumed->id, done.size(), cases.size()));
  } else {
    store::RunRecord run = capture_environment();
    run.command_line = opts.command_line;
    run.seed = static_cast<int64_t>(sel.seed);
    run.quick = sel.quick;
    run.selection = sel.to_json();
    for (const auto& [name, slot] : slots)
      if (slot.device) {
        const auto& info = slot.device->info();
        if (name != "cpu") run.gpu += (run.gpu.empty() ? "" : "; ") + fmt::format("{}: {}", name, info.name);
        if (name != "cpu" && info.driver[0]) run.driver += (run.driver.empty() ? "" : "; ") + std::string(info.driver);
      }
    summary.run_id = db->begin_run(run);
    say(opts, fmt::format("run {}: {} cases into {}", summary.run_id, cases.size(), opts.db_path));
  }
  for (auto& [name, slot] : slots) {
    if (!slot.device || !opts.measure_peaks) continue;
    slot.peaks = slot.device->measure_peaks();
    const std::string dev = slot.device->info().name;
    db->add_peak(summary.run_id, name, dev, "flops_f32", slot.peaks.flops_f32, "FLOP/s");
    if (slot.peaks.flops_f16 > 0) db->add_peak(summary.run_id, name, dev, "flops_f16", slot.peaks.flops_f16, "FLOP/s");
    db->add_peak(summary.run_id, name, dev, "bytes_per_second", slot.peaks.bytes_per_second, "B/s");
    say(opts, fmt::format("{} peaks: {:.1f} GFLOP/s fp32, {:.1f} GB/s", name, slot.peaks.flops_f32 / 1e9,
                          slot.peaks.bytes_per_second / 1e9));
  }

  InputCache inputs;
  summary.total = static_cast<int>(cases.size());
  int index = 0;
  for (const CaseSpec& c : cases) {
    ++index;
    if (done.count(c.key())) {
      ++summary.resumed_skipped;
      continue;
    }
    const store::CaseRecord rec = execute_case(c, slots.at(c.backend), inputs, sel.seed);
    db->add_case(summary.run_id, rec);
    if (rec.status == "ok") ++summary.ok;
    else if (rec.status == "failed") ++summary.failed;
    else if (rec.status == "unsupported") ++summary.unsupported;
    else if (rec.status == "no_device") ++summary.no_device;
    else if (rec.status == "oom") ++summary.oom;
    else ++summary.error;
    say(opts, progress_line(c, rec, index, cases.size()));
  }
  db->finish_run(summary.run_id, "complete");
  return summary;
}

}  // namespace attnbench
