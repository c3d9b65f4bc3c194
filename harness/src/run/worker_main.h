// The worker side of a run: a process that loads one backend plugin, opens one
// device, plans the run's cases itself from the selection the supervisor sent, and
// executes the cases it is asked for one at a time. Whatever a plugin does to this
// process (a segfault, abort(), exit(), a hang) costs only this process: the
// supervisor records the case and starts a fresh worker.
#pragma once

namespace attnbench::worker {

/// Serves requests read from `in_fd` and answers on `out_fd` until `in_fd` closes.
/// Returns the process exit code (0 after a clean end of input).
int serve(int in_fd, int out_fd);

}  // namespace attnbench::worker
