#include <fmt/format.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>

#include "commands.h"
#include "worker_main.h"

namespace attnbench::cli {

Command add_worker_command(CLI::App& app) {
  // Hidden (empty group): started by `attnbench run`, never by a person.
  auto* cmd = app.add_subcommand("worker", "Run cases for a supervising `attnbench run` (internal)");
  cmd->group("");
  auto parent = std::make_shared<int64_t>(0);
  cmd->add_option("--parent", *parent, "PID of the supervising run")->required();
  return [parent]() -> int {
    // Die with the supervisor, even if it is killed with SIGKILL; the check after
    // prctl closes the race where it died before the call.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != *parent) return kBadInput;
    // Protocol on fds 3 (requests) and 4 (answers); stdout and stderr are captured.
    return worker::serve(3, 4);
  };
}

}  // namespace attnbench::cli
