#include <fmt/format.h>
#include <re2/re2.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <climits>
#include <filesystem>

#include "campaigns.h"
#include "cold_options.h"
#include "commands.h"
#include "plugin_loader.h"
#include "runner.h"

namespace attnbench::cli {
namespace {

/// Splits "a,b,c" lists given to one option (CLI11 also accepts repeated options).
std::vector<std::string> split_commas(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    size_t start = 0;
    while (start <= s.size()) {
      const size_t end = s.find(',', start);
      std::string part = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!part.empty()) out.push_back(part);
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  return out;
}

/// On a terminal, finished cases overwrite one status line (a progress display) and
/// only problems stay on screen; elsewhere (CI logs, pipes) every line is kept.
void print_progress(const std::string& line, bool tty) {
  if (!tty) {
    fmt::print(stderr, "{}\n", line);
    return;
  }
  const bool case_line = line.starts_with("[");
  bool problem = false;
  for (const char* status : {": failed", ": error", ": oom", ": crashed", ": timeout"})
    problem |= line.find(status) != std::string::npos;
  if (case_line && !problem) {
    winsize ws{};
    const size_t width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 8 ? ws.ws_col - 1 : 119;
    fmt::print(stderr, "\r\033[K{}", line.substr(0, width));
  } else {
    fmt::print(stderr, "\r\033[K{}\n", line);
  }
}

/// --seed: a whole number the store can hold (int64), written in decimal.
uint64_t parse_seed(const std::string& text) {
  const bool ok = RE2::FullMatch(text, "[0-9]{1,19}") && std::stoull(text) <= uint64_t{INT64_MAX};
  if (!ok) throw std::invalid_argument(fmt::format("invalid --seed '{}' (expected a whole number 0..{})", text, INT64_MAX));
  return std::stoull(text);
}

/// --shard i/N with 1 <= i <= N, nothing else on the line.
void parse_shard(const std::string& text, RunSelection& sel) {
  if (RE2::FullMatch(text, "([0-9]{1,9})/([0-9]{1,9})", &sel.shard_index, &sel.shard_count) &&
      sel.shard_index >= 1 && sel.shard_index <= sel.shard_count)
    return;
  throw std::invalid_argument(fmt::format("invalid --shard '{}' (expected i/N with 1 <= i <= N)", text));
}

}  // namespace

Command add_run_command(CLI::App& app, const std::string& command_line) {
  auto* cmd = app.add_subcommand("run", "Run suites on backends and store the results");
  struct Args {
    std::vector<std::string> suites, backends, variants, methods, budgets, ratios, traces;
    std::string filter, db = "results.db", suites_dir, shard = "1/1", threads, seed = "1", backend_options, plugins;
    std::string campaign;
    bool quick = false, no_peaks = false, retry_failed = false, cold = false;
    int repetitions = 0, jobs = 0;
    uint64_t cold_bytes = 0;
    double case_timeout = 0;
    int64_t resume = 0;
    bool resume_given = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--suite,-s", a->suites, "Suites to run (names or files), comma-separated");
  cmd->add_option("--backend,-b", a->backends, "Backends (default: every loaded backend with a device), comma-separated");
  cmd->add_option("--variant", a->variants, "Variant globs, e.g. 'flash*' or 'flash:causal' (recall suites: variant cases)");
  cmd->add_option("--method", a->methods, "Recall suites: KV method globs, e.g. 'snapkv,h2o' or 'kivi:bits=2'");
  cmd->add_option("--budget", a->budgets, "Recall suites: token budgets replacing the suites' budget axis, e.g. 256,1024");
  cmd->add_option("--trace", a->traces,
                  "Attention trace folders (trace.json + layer_i/q,k,v.npy; scripts/capture_trace.py): every KV method "
                  "and attention variant runs on each");
  cmd->add_option("--compression-ratio", a->ratios,
                  "Recall suites: budgets as kvpress gives them, the fraction of the cache removed (0 <= R < 1), e.g. 0.5,0.75");
  cmd->add_option("--filter", a->filter, "Regex (RE2) on the case key suite|backend|config|shape");
  cmd->add_flag("--quick", a->quick, "Run each suite's documented quick subset");
  cmd->add_option("--db", a->db, "Results database (created if missing)");
  cmd->add_option("--seed", a->seed, "Seed of the input generator");
  cmd->add_option("--shard", a->shard, "Run shard i of N (i/N)");
  cmd->add_option("--repetitions", a->repetitions, "Override the repetitions of every case")->check(CLI::Range(1, 1000));
  add_cold_options(cmd, a->cold, a->cold_bytes);
  cmd->add_option("--threads", a->threads, "Threads for the CPU backend (default: all cores)");
  cmd->add_option("--backend-options", a->backend_options, "Options passed to every backend's create(), k=v,...");
  auto* campaign = cmd->add_option("--campaign", a->campaign,
                                   "Campaign name shared by the shards of one suite (default: the run is its own)");
  cmd->add_option("--plugins", a->plugins, "Load plugins from this folder only (e.g. another build's)");
  cmd->add_option("--suites-dir", a->suites_dir, "Directory of suite files");
  cmd->add_flag("--no-peaks", a->no_peaks, "Skip measuring machine peaks");
  cmd->add_option("--case-timeout", a->case_timeout,
                  "Seconds a case may run before its worker is killed (default: scaled from its FLOP and byte model)")
      ->check(CLI::Range(0.001, 1e6));
  cmd->add_flag("--retry-failed", a->retry_failed, "With --resume: also run again the cases stored as crashed or timeout");
  cmd->add_option("--jobs,-j", a->jobs, "Workers per backend (default: one per device; the CPU has one)")
      ->check(CLI::Range(1, 256));
  auto* resume = cmd->add_option("--resume", a->resume, "Finish an incomplete run (its id) from its stored selection");
  return [a, resume, campaign, command_line]() {
    RunSelection sel;
    sel.suites = split_commas(a->suites);
    sel.backends = split_commas(a->backends);
    sel.variants = split_commas(a->variants);
    sel.methods = split_commas(a->methods);
    sel.traces = a->traces;
    for (const auto& b : split_commas(a->budgets)) {
      size_t used = 0;
      int value = 0;
      try { value = std::stoi(b, &used); } catch (const std::exception&) { used = 0; }
      if (used != b.size() || value < 1)
        throw std::invalid_argument(fmt::format("invalid --budget '{}' (expected positive token counts)", b));
      sel.budgets.push_back(value);
    }
    for (const auto& r : split_commas(a->ratios)) {
      size_t used = 0;
      double value = -1;
      try { value = std::stod(r, &used); } catch (const std::exception&) { used = 0; }
      if (used != r.size() || !(value >= 0 && value < 1))
        throw std::invalid_argument(fmt::format("invalid --compression-ratio '{}' (the fraction of the cache removed, 0 <= R < 1)", r));
      sel.compression_ratios.push_back(value);
    }
    sel.filter = a->filter;
    sel.quick = a->quick;
    sel.seed = parse_seed(a->seed);
    sel.repetitions = a->repetitions;
    sel.cold = a->cold || a->cold_bytes > 0;
    sel.cold_bytes = a->cold_bytes;
    sel.backend_options = a->backend_options;
    if (!a->threads.empty()) sel.backend_options += (sel.backend_options.empty() ? "threads=" : ",threads=") + a->threads;
    parse_shard(a->shard, sel);
    RunOptions opts;
    opts.db_path = a->db;
    opts.suites_dir = a->suites_dir;
    opts.measure_peaks = !a->no_peaks;
    opts.command_line = command_line;
    opts.case_timeout = a->case_timeout;
    opts.retry_failed = a->retry_failed;
    opts.jobs = a->jobs;
    opts.campaign = a->campaign;
    if (campaign->count()) store::check_campaign_name(a->campaign);  // an empty name given is refused too
    if (resume->count()) opts.resume_run = a->resume;
    if (a->retry_failed && !resume->count()) throw std::invalid_argument("--retry-failed needs --resume RUN");
    const bool tty = isatty(STDERR_FILENO);
    opts.progress = [tty](const std::string& line) { print_progress(line, tty); };
    if (!a->plugins.empty() && !std::filesystem::is_directory(a->plugins))
      throw std::invalid_argument(fmt::format("plugin folder '{}' not found", a->plugins));
    const PluginScan plugins = scan_plugins(a->plugins.empty() ? plugin_search_dirs() : std::vector<std::string>{a->plugins});
    for (const auto& r : plugins.rejected) fmt::print(stderr, "attnbench: refused plugin {}: {}\n", r.path, r.reason);
    const RunSummary s = execute_run(sel, opts, plugins);
    if (tty) fmt::print(stderr, "\n");
    fmt::print("run {}: {} cases: {} ok, {} failed, {} unsupported, {} no device, {} oom, {} errors, {} crashed, {} timeout{}\n",
               s.run_id, s.total, s.ok, s.failed, s.unsupported, s.no_device, s.oom, s.error, s.crashed, s.timeout,
               s.resumed_skipped ? fmt::format(", {} already stored", s.resumed_skipped) : "");
    return s.has_failures() ? kFailures : kOk;
  };
}

}  // namespace attnbench::cli
