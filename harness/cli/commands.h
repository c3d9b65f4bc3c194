// Subcommands of the attnbench CLI. Each adds itself to the CLI11 app and returns
// the function that runs it; errors surface as exceptions turned into one line by main.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace attnbench::cli {

/// Exit codes: 0 success, 1 a case failed or regressed, 2 bad input or environment.
enum ExitCode { kOk = 0, kFailures = 1, kBadInput = 2 };

using Command = std::function<int()>;

Command add_list_command(CLI::App& app);
Command add_run_command(CLI::App& app, const std::string& command_line);
Command add_env_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_compare_command(CLI::App& app);
Command add_merge_command(CLI::App& app);
Command add_reproduce_command(CLI::App& app, const std::string& command_line);
Command add_worker_command(CLI::App& app);
Command add_ab_command(CLI::App& app, const std::string& command_line);
Command add_export_command(CLI::App& app);

}  // namespace attnbench::cli
