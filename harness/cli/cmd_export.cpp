// `attnbench export`: write one stored run as json, csv or gbench (Google Benchmark JSON).
#include <fmt/format.h>

#include <cstdio>
#include <fstream>

#include "commands.h"
#include "export_results.h"

namespace attnbench::cli {
namespace {

struct ExportArgs {
  std::string db = "results.db", format = "json", output, campaign;
  int64_t run = 0;
};

/// Writes the whole text at once (it is built first, so a failed export leaves no partial file).
void write_output(const std::string& text, const std::string& path) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (std::fflush(stdout) != 0) throw std::invalid_argument("cannot write to stdout");
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::invalid_argument(fmt::format("cannot write '{}'", path));
}

}  // namespace

Command add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a stored run as json, csv or gbench (Google Benchmark JSON)");
  auto a = std::make_shared<ExportArgs>();
  cmd->add_option("--db", a->db, "Results database (opened read-only)");
  auto* run_opt = cmd->add_option("--run", a->run, "Run id (default: the newest)");
  auto* campaign_opt = cmd->add_option("--campaign", a->campaign, "Every run of this campaign, as one result");
  run_opt->excludes(campaign_opt);
  cmd->add_option("--format", a->format, "json | csv | gbench (default json)");
  cmd->add_option("-o,--output", a->output, "Output file; '-' writes stdout")->required();
  return [a, run_opt, campaign_opt]() {
    exporter::check_format(a->format);  // before the database is opened: bad input touches nothing
    store::ResultsStore db(a->db, /*read_only=*/true);
    const auto run = campaign_opt->count()
                         ? exporter::load_export_campaign(db, a->campaign)
                         : exporter::load_export_run(db, run_opt->count() ? std::optional<int64_t>(a->run) : std::nullopt);
    write_output(exporter::export_run(run, a->format), a->output);
    return kOk;
  };
}

}  // namespace attnbench::cli
