#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "atomic_write.h"
#include "campaigns.h"
#include "change_points.h"
#include "history_report.h"
#include "html_report.h"
#include "report_data.h"
#include "reproduce_targets.h"
#include "results_store.h"

namespace attnbench::cli {
namespace {

bool is_run_id(const std::string& s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Sets a run id (read by the report itself, which names the runs a database holds when
/// it is unknown) or, for a campaign name, its runs as one result, resolved as `compare`
/// resolves a side (store::resolve_runs).
void resolve_side(const std::string& db_path, const std::string& arg, std::optional<int64_t>& run_id,
                  std::vector<int64_t>& run_ids, std::string& campaign) {
  if (is_run_id(arg)) {
    run_id = std::stoll(arg);
    return;
  }
  store::ResultsStore db(db_path, /*read_only=*/true);
  run_ids = store::resolve_runs(db, arg);
  campaign = arg;
}

/// Several --run values: every run each names (an id, or a campaign's runs), in the
/// order given, rendered as one result named after the values.
void resolve_sides(const std::string& db_path, const std::vector<std::string>& args, std::vector<int64_t>& run_ids,
                   std::string& name) {
  for (const std::string& arg : args) {
    std::optional<int64_t> id;
    std::vector<int64_t> ids;
    std::string campaign;
    resolve_side(db_path, arg, id, ids, campaign);
    if (id) ids = {*id};
    for (int64_t i : ids)
      if (std::find(run_ids.begin(), run_ids.end(), i) == run_ids.end()) run_ids.push_back(i);
  }
  name = fmt::format("{}", fmt::join(args, " + "));
}

}  // namespace

Command add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Render a self-contained HTML report of a stored run or campaign");
  auto db = std::make_shared<std::string>("results.db");
  auto out = std::make_shared<std::string>("report.html");
  auto run = std::make_shared<std::vector<std::string>>();
  auto campaign = std::make_shared<std::string>();
  auto baseline = std::make_shared<std::string>();
  auto baseline_db = std::make_shared<std::string>();
  auto threshold = std::make_shared<double>(5.0);
  auto targets_md = std::make_shared<std::string>();
  auto history = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  cmd->add_option("--db", *db, "Results database");
  auto* run_opt = cmd->add_option("--run", *run,
                                  "Run id or campaign name (default: the newest run); repeated or comma-separated, "
                                  "several runs as one result (e.g. one per backend)")
                      ->delimiter(',');
  auto* campaign_opt = cmd->add_option(
      "--campaign", *campaign,
      "Render campaign NAME (shards merged from many machines, both sides of an ab) as one result");
  campaign_opt->excludes(run_opt);
  auto* out_opt = cmd->add_option("-o,--output", *out, "Output HTML file (default: report.html, never overwritten without --force)");
  cmd->add_flag("--force", *force, "Overwrite an existing report.html when -o is not given");
  auto* base_opt = cmd->add_option("--baseline", *baseline,
                                   "Baseline run id or campaign name: adds a run-vs-run comparison");
  cmd->add_option("--baseline-db", *baseline_db, "Database holding the baseline (default: --db)");
  cmd->add_option("--threshold", *threshold, "Relative time change, in percent, below which a case is 'same'")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--targets-md", *targets_md,
                  "Also write the reproduction targets (published vs measured) as a Markdown table to this file");
  cmd->add_flag("--history", *history,
                 "Render every case's time and quality over all runs of --db, with change points");
  return [=]() {
    // An explicit -o says where to write; the default name may be last week's report.
    if (!out_opt->count() && !*force && std::filesystem::exists(*out)) {
      fmt::print(stderr, "attnbench: error: {} exists; pass --force to overwrite it or -o to write elsewhere\n", *out);
      return kBadInput;
    }
    if (*history) {
      reports::write_history_report(*db, [](const std::vector<double>& times) {
        std::vector<size_t> at;
        for (const auto& cp : history::detect_change_points(times)) at.push_back(cp.index);
        return at;
      }, *out);
      fmt::print("wrote {}\n", *out);
      return kOk;
    }
    reports::HtmlReportOptions options;
    if (campaign_opt->count()) {
      if (campaign->empty()) throw std::invalid_argument("--campaign needs a campaign name (see 'attnbench list runs')");
      resolve_side(*db, *campaign, options.run_id, options.run_ids, options.campaign);
    } else if (run->size() == 1) {
      resolve_side(*db, run->front(), options.run_id, options.run_ids, options.campaign);
    } else if (run->size() > 1) {
      resolve_sides(*db, *run, options.run_ids, options.campaign);
    }
    options.baseline_db_path = *baseline_db;
    if (base_opt->count())
      resolve_side(baseline_db->empty() ? *db : *baseline_db, *baseline, options.baseline_run_id,
                   options.baseline_run_ids, options.baseline_campaign);
    options.time_threshold = *threshold / 100.0;
    reports::write_html_report(*db, options, *out);
    fmt::print("wrote {}\n", *out);
    if (!targets_md->empty()) {
      const reports::RunData data = reports::load_report_run(*db, options);
      reports::write_file_atomically(*targets_md, reports::render_targets_markdown(data));
      fmt::print("wrote {}\n", *targets_md);
    }
    return kOk;
  };
}

}  // namespace attnbench::cli
