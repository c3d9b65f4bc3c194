#include <fmt/format.h>

#include "commands.h"
#include "html_report.h"

namespace attnbench::cli {

Command add_report_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("report", "Render a self-contained HTML report of a stored run");
  auto db = std::make_shared<std::string>("results.db");
  auto out = std::make_shared<std::string>("report.html");
  auto run = std::make_shared<int64_t>(0);
  cmd->add_option("--db", *db, "Results database");
  auto* run_opt = cmd->add_option("--run", *run, "Run id (default: the newest)");
  cmd->add_option("-o,--output", *out, "Output HTML file");
  return [db, out, run, run_opt]() {
    std::optional<int64_t> id;
    if (run_opt->count()) id = *run;
    reports::write_html_report(*db, id, *out);
    fmt::print("wrote {}\n", *out);
    return kOk;
  };
}

}  // namespace attnbench::cli
