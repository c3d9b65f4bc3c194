// `attnbench compare`: run-vs-run verdicts for CI (exit 1 on a regression), and
// `compare --aa RUN`, the A/A self-check that measures compare's false-alarm rate.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "commands.h"
#include "compare_args.h"
#include "compare_format.h"
#include "compare_verdict.h"
#include "results_store.h"

namespace attnbench::cli {
namespace {

struct CompareArgs {
  std::string db = "results.db", db_cand, format = "text", output;
  std::string alpha = "0.05", threshold = "5%", error_tolerance, recall_tolerance = "0";
  std::string base, cand;  // run ids or campaign names
  int64_t aa = 0;
  bool strict = false, failures_only = false, allow_incomplete = false;
};

compare::CompareOptions options_from(const CompareArgs& a) {
  compare::CompareOptions o;
  o.alpha = compare::parse_fraction(a.alpha, "--alpha");
  if (!(o.alpha > 0 && o.alpha < 1)) throw std::invalid_argument(fmt::format("--alpha must be in (0, 1), not {}", a.alpha));
  o.threshold = compare::parse_fraction(a.threshold, "--threshold");
  if (!a.error_tolerance.empty()) compare::parse_error_tolerance(a.error_tolerance, o);
  o.recall_tolerance = compare::parse_fraction(a.recall_tolerance, "--recall-tolerance");
  return o;
}

void emit(const std::string& text, const std::string& path) {
  if (path.empty()) {
    fmt::print("{}", text);
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::invalid_argument(fmt::format("cannot write '{}'", path));
}

/// Refuses a run (or campaign) that never finished: the cases it did not store would show
/// up as "only in" the other side and hide whatever they would have measured.
void require_complete(const compare::StoredRun& r, const std::string& name, const std::string& db, const char* role) {
  if (r.run.status != "incomplete") return;
  const bool run_id = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  const std::string resume = run_id ? fmt::format("`attnbench run --resume {} --db {}`", name, db)
                                    : fmt::format("`attnbench run --resume ID --db {}` (IDs: `attnbench list runs`)", db);
  throw std::invalid_argument(fmt::format(
      "{} {} {} in '{}' is incomplete ({} cases stored); finish it with {}, or pass --allow-incomplete to compare the "
      "cases it has",
      role, run_id ? "run" : "campaign", name, db, r.cases.size(), resume));
}

int run_aa(const CompareArgs& a, const compare::CompareOptions& o) {
  store::ResultsStore db(a.db, /*read_only=*/true);
  const compare::StoredRun run = compare::load_stored_run(db, a.aa);
  const compare::AaResult r = compare::aa_false_alarm(run, o);
  emit(fmt::format("A/A check of run {}: {} ok cases with >= 4 repetitions, {} testable at alpha {:g}; flagged {} "
                   "slower and {} faster: false-alarm rate {:.1f}% (expected at most about {:g}%)\n",
                   a.aa, r.cases, r.testable, o.alpha, r.flagged_slower, r.flagged_faster,
                   100 * r.false_alarm_rate(), 100 * o.alpha),
       a.output);
  if (r.testable == 0)
    fmt::print(stderr, "attnbench: note: no case has enough repetitions for an A/A test (need >= 8 for halves of 4)\n");
  return kOk;
}

}  // namespace

Command add_compare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "Compare two runs case by case; exit 1 on a time or quality regression");
  auto a = std::make_shared<CompareArgs>();
  auto* base = cmd->add_option("BASE", a->base, "Baseline run id or campaign name");
  auto* cand = cmd->add_option("CAND", a->cand, "Candidate run id or campaign name");
  cmd->add_option("--db", a->db, "Results database holding BASE (and CAND unless --db-cand)");
  cmd->add_option("--db-cand", a->db_cand, "Database holding CAND, when it is not --db");
  cmd->add_option("--alpha", a->alpha, "Significance level of the two-sided Mann-Whitney U test (default 0.05)");
  cmd->add_option("--threshold", a->threshold, "Slower only if the median ratio exceeds 1 + this (default 5%)");
  cmd->add_option("--error-tolerance", a->error_tolerance,
                  "ABS[,REL]: errors may grow by ABS + REL * base (default 1e-6,10%)");
  cmd->add_option("--recall-tolerance", a->recall_tolerance, "How much recall_accuracy may drop (default 0)");
  cmd->add_option("--format", a->format, "text | md | junit | json")
      ->check(CLI::IsMember({"text", "md", "markdown", "junit", "json"}));
  cmd->add_option("-o,--output", a->output, "Write the report to FILE (stdout gets the summary line)");
  cmd->add_flag("--strict", a->strict, "Also fail (exit 1) on cases not comparable or present in one run only");
  cmd->add_flag("--failures-only", a->failures_only, "Text format: leave passing cases out of the table");
  cmd->add_flag("--allow-incomplete", a->allow_incomplete,
                "Compare even when BASE or CAND is incomplete (an interrupted run not yet resumed)");
  auto* aa = cmd->add_option("--aa", a->aa, "A/A self-check: split RUN's repetitions in halves, report the false-alarm rate");
  return [a, base, cand, aa]() -> int {
    const compare::CompareOptions o = options_from(*a);
    if (aa->count()) return run_aa(*a, o);
    if (!base->count() || !cand->count())
      throw std::invalid_argument("compare needs two run ids: attnbench compare --db results.db BASE CAND");
    compare::StoredRun base_run, cand_run;
    {
      store::ResultsStore db(a->db, /*read_only=*/true);
      base_run = compare::load_stored_runs(db, a->base);
      if (a->db_cand.empty()) cand_run = compare::load_stored_runs(db, a->cand);
    }
    if (!a->db_cand.empty()) {
      store::ResultsStore db(a->db_cand, /*read_only=*/true);
      cand_run = compare::load_stored_runs(db, a->cand);
    }
    if (!a->allow_incomplete) {
      require_complete(base_run, a->base, a->db, "base");
      require_complete(cand_run, a->cand, a->db_cand.empty() ? a->db : a->db_cand, "candidate");
    }
    const compare::Comparison c = compare::compare_runs(base_run, cand_run, o);
    std::string text;
    if (a->format == "md" || a->format == "markdown") text = compare::format_markdown(c);
    else if (a->format == "junit") text = compare::format_junit(c);
    else if (a->format == "json") text = compare::format_json(c);
    else text = compare::format_text(c, !a->failures_only);
    emit(text, a->output);
    if (!a->output.empty()) fmt::print("{}\nwrote {}\n", compare::summary_line(c), a->output);
    const bool strict_fail = a->strict && (c.count(compare::Verdict::not_comparable) + c.count(compare::Verdict::only_base) +
                                               c.count(compare::Verdict::only_cand) > 0);
    return c.has_regression() || strict_fail ? kFailures : kOk;
  };
}

}  // namespace attnbench::cli
