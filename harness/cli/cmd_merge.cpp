// `attnbench merge OUT IN...`: combine shard or machine databases without duplicates.
#include <fmt/format.h>

#include "commands.h"
#include "db_merge.h"

namespace attnbench::cli {

Command add_merge_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("merge", "Merge result databases (shards, machines) into OUT without duplicates");
  auto out = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("OUT", *out, "Output database (created if missing)")->required();
  cmd->add_option("INPUTS", *inputs, "Databases to merge into OUT")->required();
  return [out, inputs]() {
    const store::MergeSummary s = store::merge_databases(*out, *inputs);
    for (const auto& n : s.notes) fmt::print(stderr, "attnbench: note: {}\n", n);
    fmt::print("merged {} database{} into {}: {} runs copied, {} already present; {} cases copied, {} already present\n",
               inputs->size(), inputs->size() == 1 ? "" : "s", *out, s.runs_copied, s.runs_present, s.cases_copied,
               s.cases_present);
    return kOk;
  };
}

}  // namespace attnbench::cli
