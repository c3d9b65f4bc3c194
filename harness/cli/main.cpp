// attnbench: run attention kernels and KV-cache methods across backend plugins,
// store every result in SQLite, render reports.
#include <fmt/format.h>

#include <cstdio>
#include <map>

#include "commands.h"
#include "sqlite_db.h"

int main(int argc, char** argv) {
  using namespace attnbench::cli;
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  CLI::App app{"attnbench: attention benchmarking and reproducibility harness"};
  app.require_subcommand(1);
  app.set_version_flag("--version", ATTNBENCH_VERSION);
  std::map<CLI::App*, Command> commands;
  // Each add_*_command registers one subcommand; key its runner by that subcommand.
  auto add = [&](Command c) { commands[app.get_subcommands([](CLI::App*) { return true; }).back()] = std::move(c); };
  add(add_list_command(app));
  add(add_run_command(app, command_line));
  add(add_env_command(app));
  add(add_report_command(app));
  add(add_compare_command(app));
  add(add_merge_command(app));
  add(add_reproduce_command(app, command_line));
  add(add_worker_command(app));
  add(add_ab_command(app, command_line));
  add(add_export_command(app));
  if (argc > 1 && argv[1][0] != '-') {
    const std::string first = argv[1];
    bool known = false;
    for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) known |= sub->get_name() == first;
    if (!known) {
      fmt::print(stderr, "attnbench: error: unknown command '{}' (commands: list, run, ab, report, compare, export, reproduce, merge, env)\n", first);
      return kBadInput;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // One line, then a hint; CLI11 would print the full help for some errors.
    fmt::print(stderr, "attnbench: error: {}\nRun 'attnbench --help' for usage.\n", e.what());
    return kBadInput;
  }
  try {
    for (auto* sub : app.get_subcommands())
      if (commands.count(sub)) return commands[sub]();
  } catch (const attnbench::store::StoreError& e) {
    fmt::print(stderr, "attnbench: error: {}\n", e.what());
    return kBadInput;
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "attnbench: error: {}\n", e.what());
    return kBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "attnbench: error: {}\n", e.what());
    return kBadInput;
  }
  return kBadInput;
}
