#include "worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <fmt/format.h>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace attnbench::worker {
namespace {

constexpr size_t kKeptOutputLines = 40;
constexpr size_t kMaxLineBytes = 400;  // one runaway line must not flood a stored message

/// A pipe whose ends sit at fd >= 10 with close-on-exec set, so dup2 onto 1..4 in the
/// child never collides with them and nothing else leaks into the worker.
void high_pipe(int fds[2]) {
  int raw[2];
  if (pipe2(raw, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", strerror(errno)));
  for (int i = 0; i < 2; ++i) {
    fds[i] = fcntl(raw[i], F_DUPFD_CLOEXEC, 10);
    close(raw[i]);
    if (fds[i] < 0) throw std::runtime_error(fmt::format("fcntl: {}", strerror(errno)));
  }
}

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

std::string signal_description(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* text = strsignal(sig);
  return fmt::format("killed by signal {}{} ({})", abbrev ? "SIG" : "", abbrev ? abbrev : std::to_string(sig),
                     text ? text : "unknown");
}

}  // namespace

std::string self_executable() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) throw std::runtime_error("cannot find the attnbench executable (/proc/self/exe)");
  return std::string(path, static_cast<size_t>(n));
}

std::unique_ptr<WorkerProcess> WorkerProcess::spawn(const std::string& exe) {
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  int req[2], resp[2], out[2];
  high_pipe(req);
  high_pipe(resp);
  high_pipe(out);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawn_file_actions_adddup2(&fa, req[0], 3);
  posix_spawn_file_actions_adddup2(&fa, resp[1], 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group: a timeout kills the worker and anything it started, and a
  // terminal's Ctrl-C reaches only the supervisor (the worker follows it by PDEATHSIG).
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const std::string parent = std::to_string(getpid());
  std::vector<char*> argv = {const_cast<char*>(exe.c_str()), const_cast<char*>("worker"),
                             const_cast<char*>("--parent"), const_cast<char*>(parent.c_str()), nullptr};
  const int rc = posix_spawn(&w->pid_, exe.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(req[0]);
  close(resp[1]);
  close(out[1]);
  w->request_fd_ = req[1];
  w->response_fd_ = resp[0];
  w->output_fd_ = out[0];
  if (rc != 0) {
    w->pid_ = -1;
    throw std::runtime_error(fmt::format("cannot start a worker ({}): {}", exe, strerror(rc)));
  }
  fcntl(w->response_fd_, F_SETFL, O_NONBLOCK);
  fcntl(w->output_fd_, F_SETFL, O_NONBLOCK);
  return w;
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0 && !wait_status_) kill();
  close_fd(request_fd_);
  close_fd(response_fd_);
  close_fd(output_fd_);
}

bool WorkerProcess::send(const nlohmann::json& request) {
  return request_fd_ >= 0 && write_message(request_fd_, request);
}

void WorkerProcess::read_output(int fd) {
  char chunk[65536];
  while (true) {
    const ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more for now
    if (n == 0) {       // the worker closed it: it has ended
      if (fd == response_fd_) close_fd(response_fd_);
      else {
        if (!output_.rest().empty()) output_lines_.push_back(output_.rest().substr(0, kMaxLineBytes));
        output_ = LineBuffer();
        close_fd(output_fd_);
      }
      return;
    }
    if (fd == response_fd_) {
      responses_.feed(chunk, static_cast<size_t>(n));
      while (auto line = responses_.next_line()) {
        try {
          messages_.push_back(nlohmann::json::parse(*line));
        } catch (const std::exception&) {
          messages_.push_back({{"op", "garbage"}, {"line", line->substr(0, kMaxLineBytes)}});
        }
      }
    } else {
      output_.feed(chunk, static_cast<size_t>(n));
      while (auto line = output_.next_line()) {
        output_lines_.push_back(line->substr(0, kMaxLineBytes));
        if (output_lines_.size() > kKeptOutputLines) output_lines_.pop_front();
      }
    }
  }
}

void WorkerProcess::pump() {
  if (response_fd_ >= 0) read_output(response_fd_);
  if (output_fd_ >= 0) read_output(output_fd_);
}

std::vector<int> WorkerProcess::poll_fds() const {
  std::vector<int> fds;
  if (response_fd_ >= 0) fds.push_back(response_fd_);
  if (output_fd_ >= 0) fds.push_back(output_fd_);
  return fds;
}

std::optional<nlohmann::json> WorkerProcess::take_message() {
  if (messages_.empty()) return std::nullopt;
  nlohmann::json m = std::move(messages_.front());
  messages_.pop_front();
  return m;
}

void WorkerProcess::reap(bool block) {
  if (pid_ <= 0 || wait_status_) return;
  int status = 0;
  pid_t r;
  do r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == pid_) wait_status_ = status;
}

void WorkerProcess::kill() {
  if (pid_ <= 0 || wait_status_) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  reap(true);
  pump();  // what it wrote before it died is still in the pipes
}

void WorkerProcess::shut_down(std::chrono::milliseconds grace) {
  close_fd(request_fd_);
  const auto until = Clock::now() + grace;
  while (!wait_status_ && Clock::now() < until) {
    pump();
    reap(false);
    if (!wait_status_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!wait_status_) kill();
  pump();
}

std::string WorkerProcess::exit_description() {
  // The answer pipe closes as the process ends; give it a moment to become reapable
  // before forcing the issue (a worker that closed fd 4 but lives on is killed).
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (!wait_status_ && Clock::now() < until) {
    reap(false);
    if (!wait_status_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!wait_status_) kill();
  pump();
  if (!wait_status_) return "ended in an unknown way";
  const int s = *wait_status_;
  if (WIFSIGNALED(s)) return signal_description(WTERMSIG(s));
  if (WIFEXITED(s)) return fmt::format("exited with status {}", WEXITSTATUS(s));
  return "ended in an unknown way";
}

std::string WorkerProcess::output_tail(size_t lines) const {
  std::string out;
  const size_t first = output_lines_.size() > lines ? output_lines_.size() - lines : 0;
  for (size_t i = first; i < output_lines_.size(); ++i) {
    if (output_lines_[i].empty()) continue;
    out += (out.empty() ? "" : " | ") + output_lines_[i];
  }
  if (!output_.rest().empty()) out += (out.empty() ? "" : " | ") + output_.rest().substr(0, kMaxLineBytes);
  return out;
}

WorkerProcess* wait_any(const std::vector<WorkerProcess*>& workers, Clock::time_point deadline) {
  while (true) {
    std::vector<pollfd> fds;
    std::vector<WorkerProcess*> owner;
    for (WorkerProcess* w : workers) {
      // A queued answer or a closed answer pipe is an event already.
      if (w->has_message() || w->gone()) return w;
      for (int fd : w->poll_fds()) {
        fds.push_back({fd, POLLIN, 0});
        owner.push_back(w);
      }
    }
    const auto now = Clock::now();
    if (now >= deadline) return nullptr;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    const int n = poll(fds.data(), fds.size(), static_cast<int>(std::min<int64_t>(ms, 60'000)));
    if (n < 0 && errno != EINTR) throw std::runtime_error(fmt::format("poll: {}", strerror(errno)));
    for (size_t i = 0; n > 0 && i < fds.size(); ++i)
      if (fds[i].revents) owner[i]->pump();
  }
}

std::optional<nlohmann::json> await(WorkerProcess& w, Clock::time_point deadline) {
  WorkerProcess* ready = wait_any({&w}, deadline);
  if (!ready) return std::nullopt;
  return w.take_message();  // nullopt when it has gone without answering
}

}  // namespace attnbench::worker
