#include <fmt/format.h>

#include "ab_run.h"
#include "cold_options.h"
#include "commands.h"
#include "compare_args.h"

namespace attnbench::cli {

Command add_ab_command(CLI::App& app, const std::string& command_line) {
  auto* cmd = app.add_subcommand("ab", "Interleaved A/B run of two builds of one backend, with a paired verdict");
  struct Args {
    std::string dir_a, dir_b, backend, options_a, options_b, filter, db = "results.db", suites_dir, campaign;
    std::vector<std::string> suites, variants;
    std::string alpha = "0.05", threshold = "5%";
    bool quick = false, no_peaks = false, cold = false;
    int repetitions = 0, pairs_per_worker = 1, max_pairs = 30;
    uint64_t cold_bytes = 0;
    double case_timeout = 0;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--a", a->dir_a, "Plugin folder of build A (the base)")->required();
  cmd->add_option("--b", a->dir_b, "Plugin folder of build B (the candidate)")->required();
  cmd->add_option("--backend,-b", a->backend, "Backend to compare (default: the one both folders hold)");
  cmd->add_option("--a-options", a->options_a, "create() options of side A, e.g. threads=2");
  cmd->add_option("--b-options", a->options_b, "create() options of side B");
  cmd->add_option("--suite,-s", a->suites, "Suites to run, comma-separated")->required()->delimiter(',');
  cmd->add_option("--variant", a->variants, "Variant globs")->delimiter(',');
  cmd->add_option("--filter", a->filter, "Regex (RE2) on the case key");
  cmd->add_flag("--quick", a->quick, "Each suite's quick subset");
  cmd->add_option("--repetitions", a->repetitions, "First pairs per case (default: the suite's, at least 10)")
      ->check(CLI::Range(2, 1000));
  add_cold_options(cmd, a->cold, a->cold_bytes);
  cmd->add_option("--max-pairs", a->max_pairs,
                  "Pairs a case may take while its interval straddles a threshold (default 30; at most --repetitions: "
                  "no extra pairs)")
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--db", a->db, "Results database (both sides are stored as runs)");
  cmd->add_option("--suites-dir", a->suites_dir, "Directory of suite files");
  cmd->add_option("--alpha", a->alpha, "Significance level of the paired signed-rank test (default 0.05)");
  cmd->add_option("--threshold", a->threshold, "Slower only if the ratio B/A exceeds 1 + this (default 5%)");
  cmd->add_option("--case-timeout", a->case_timeout, "Seconds one repetition of a case may run")->check(CLI::Range(0.001, 1e6));
  cmd->add_option("--pairs-per-worker", a->pairs_per_worker,
                  "Pairs timed by one pair of worker processes before both are replaced (default 1; 0: never)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_flag("--no-peaks", a->no_peaks, "Skip measuring machine peaks");
  cmd->add_option("--campaign", a->campaign, "Campaign of both runs (default: ab-<run A>)");
  return [a, command_line]() -> int {
    AbOptions o;
    o.dir_a = a->dir_a;
    o.dir_b = a->dir_b;
    o.backend = a->backend;
    o.options_a = a->options_a;
    o.options_b = a->options_b;
    o.selection.suites = a->suites;
    o.selection.variants = a->variants;
    o.selection.filter = a->filter;
    o.selection.quick = a->quick;
    o.selection.repetitions = a->repetitions;
    o.selection.cold = a->cold || a->cold_bytes > 0;
    o.selection.cold_bytes = a->cold_bytes;
    o.db_path = a->db;
    o.campaign = a->campaign;
    o.suites_dir = a->suites_dir;
    o.command_line = command_line;
    o.case_timeout = a->case_timeout;
    o.measure_peaks = !a->no_peaks;
    o.pairs_per_worker = a->pairs_per_worker;
    o.max_pairs = a->max_pairs;
    o.compare.alpha = compare::parse_fraction(a->alpha, "--alpha");
    if (!(o.compare.alpha > 0 && o.compare.alpha < 1))
      throw std::invalid_argument(fmt::format("--alpha must be in (0, 1), not {}", a->alpha));
    o.compare.threshold = compare::parse_fraction(a->threshold, "--threshold");
    o.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    const AbResult r = run_ab(o);
    fmt::print("{}", format_ab(r, o.compare));
    return r.slower() > 0 || r.failed() > 0 ? kFailures : kOk;
  };
}

}  // namespace attnbench::cli
