#include <fmt/format.h>

#include "commands.h"
#include "atomic_write.h"
#include "change_points.h"
#include "history_report.h"
#include "html_report.h"
#include "report_data.h"
#include "reproduce_targets.h"

namespace attnbench::cli {

Command add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Render a self-contained HTML report of a stored run");
  auto db = std::make_shared<std::string>("results.db");
  auto out = std::make_shared<std::string>("report.html");
  auto run = std::make_shared<int64_t>(0);
  auto baseline = std::make_shared<int64_t>(0);
  auto baseline_db = std::make_shared<std::string>();
  auto threshold = std::make_shared<double>(5.0);
  auto targets_md = std::make_shared<std::string>();
  auto history = std::make_shared<bool>(false);
  cmd->add_option("--db", *db, "Results database");
  auto* run_opt = cmd->add_option("--run", *run, "Run id (default: the newest)");
  cmd->add_option("-o,--output", *out, "Output HTML file");
  auto* base_opt = cmd->add_option("--baseline", *baseline, "Baseline run id: adds a run-vs-run comparison");
  cmd->add_option("--baseline-db", *baseline_db, "Database holding the baseline run (default: --db)");
  cmd->add_option("--threshold", *threshold, "Relative time change, in percent, below which a case is 'same'")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--targets-md", *targets_md,
                  "Also write the reproduction targets (published vs measured) as a Markdown table to this file");
  cmd->add_flag("--history", *history,
                 "Render every case's time and quality over all runs of --db, with change points");
  return [=]() {
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
    if (run_opt->count()) options.run_id = *run;
    if (base_opt->count()) options.baseline_run_id = *baseline;
    options.baseline_db_path = *baseline_db;
    options.time_threshold = *threshold / 100.0;
    reports::write_html_report(*db, options, *out);
    fmt::print("wrote {}\n", *out);
    if (!targets_md->empty()) {
      const reports::RunData data = reports::load_run(*db, options.run_id);
      reports::write_file_atomically(*targets_md, reports::render_targets_markdown(data));
      fmt::print("wrote {}\n", *targets_md);
    }
    return kOk;
  };
}

}  // namespace attnbench::cli
