// scripts/slurm/submit-suite.sh on a real single-node Slurm: this test starts munged,
// slurmctld and slurmd (Debian's munge and slurm-wlm) on 127.0.0.1 with a generated munge
// key and a slurm.conf in a temporary folder, submits a small correctness selection as a
// 3-task job array (array indices 5-7, so the shard number is not the task id) plus the
// dependent merge job, and checks that the merged database holds exactly the case keys
// of one unsharded run of the same selection, each once, and that every shard had some.
//
// Exits 77 (skipped) when it cannot run Slurm here: not root, munge or slurm-wlm missing
// (scripts/setup.sh installs them), or a daemon that does not come up; it prints why.
// It stops only the daemons it started (by the pids in the pid files it chose), and every
// wait is bounded (the whole test stays well under three minutes).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.h"

using namespace attnbench::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSkip = 77;
const std::string kSelection = "--suite correctness --quick --backend cpu --no-peaks --filter 'lk=67,'";

/// Runs a shell command (trusted test strings), stdout and stderr into `log` (appended).
int sh(const std::string& cmd, const std::string& log) {
  const int status = std::system(("(" + cmd + ") >>'" + log + "' 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Output of a shell command (stdout only), or "" when it fails.
std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

bool have(const std::string& tool) { return !capture("command -v '" + tool + "'").empty(); }

/// Polls `ready` every 200 ms until it holds or `seconds` pass.
template <class F>
bool wait_for(double seconds, F ready) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    if (ready()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

std::string short_hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string h = buf;
  return h.substr(0, h.find('.'));
}

/// State letter and name of a process from /proc/PID[/task/TID]/stat ('\0' when gone).
std::pair<char, std::string> proc_stat(const fs::path& stat_file) {
  const std::string stat = read_file(stat_file);
  const size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) return {'\0', ""};
  return {stat[close + 2], stat.substr(open + 1, close - open - 1)};
}

/// Whether process `pid` still runs as `name`: a zombie thread-group leader counts as
/// running while any of its threads does (a daemon's exit takes its threads down first).
bool running(pid_t pid, const std::string& name) {
  const fs::path proc = "/proc/" + std::to_string(pid);
  const auto [state, comm] = proc_stat(proc / "stat");
  if (state == '\0' || comm != name) return false;
  if (state != 'Z' && state != 'X') return true;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(proc / "task", ec)) {
    const char s = proc_stat(task.path() / "stat").first;
    if (s != '\0' && s != 'Z' && s != 'X') return true;
  }
  return false;
}

/// munged + slurmctld + slurmd in one folder; the destructor stops what was started.
class Cluster {
 public:
  explicit Cluster(fs::path dir) : dir_(std::move(dir)) {}
  ~Cluster() { stop(); }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string conf() const { return (dir_ / "slurm.conf").string(); }
  std::string env() const { return "SLURM_CONF='" + conf() + "' "; }
  std::string log() const { return (dir_ / "commands.log").string(); }

  /// Starts the three daemons; returns "" or why one did not come up.
  std::string start() {
    // munged insists on a socket folder everyone can traverse and a private key.
    for (const char* d : {"run", "state", "spool", "log"}) fs::create_directories(dir_ / d);
    fs::create_directories(dir_ / "key");
    chmod(dir_.c_str(), 0755);
    chmod((dir_ / "run").c_str(), 0755);
    chmod((dir_ / "key").c_str(), 0700);
    const std::string key = (dir_ / "key/munge.key").string(), socket = (dir_ / "run/munge.socket").string();
    {
      std::ifstream random("/dev/urandom", std::ios::binary);
      std::string bytes(1024, '\0');
      random.read(bytes.data(), bytes.size());
      if (!random) return "cannot read /dev/urandom for a munge key";
      write_file(key, bytes);
      chmod(key.c_str(), 0400);
    }
    if (sh("timeout 20 munged --socket='" + socket + "' --key-file='" + key + "' --pid-file='" + pid_file("munged") +
               "' --log-file='" + (dir_ / "log/munged.log").string() + "' --seed-file='" +
               (dir_ / "key/munged.seed").string() + "'",
           log()) != 0)
      return "munged did not start";
    if (!adopt("munged")) return "munged wrote no pid file";
    if (!wait_for(10, [&] { return sh("timeout 5 munge -n -S '" + socket + "' | timeout 5 unmunge -S '" + socket + "'", log()) == 0; }))
      return "munge credentials do not round-trip through munged";

    const int ctld_port = free_port(), slurmd_port = free_port();
    if (!ctld_port || !slurmd_port || ctld_port == slurmd_port) return "no free TCP ports on 127.0.0.1";
    const std::string host = short_hostname();
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const long mem_mib = std::max(256L, pages > 0 && page > 0 ? pages / (1048576L / page) / 2 : 256L);
    write_file(conf(), "ClusterName=attnbenchtest\n"
                       "SlurmctldHost=" + host + "(127.0.0.1)\n"
                       "SlurmctldPort=" + std::to_string(ctld_port) + "\n"
                       "SlurmdPort=" + std::to_string(slurmd_port) + "\n"
                       "SlurmUser=root\nSlurmdUser=root\n"
                       "AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket=" + socket + "\n"
                       "StateSaveLocation=" + (dir_ / "state").string() + "\n"
                       "SlurmdSpoolDir=" + (dir_ / "spool").string() + "\n"
                       "SlurmctldPidFile=" + pid_file("slurmctld") + "\n"
                       "SlurmdPidFile=" + pid_file("slurmd") + "\n"
                       "SlurmctldLogFile=" + (dir_ / "log/slurmctld.log").string() + "\n"
                       "SlurmdLogFile=" + (dir_ / "log/slurmd.log").string() + "\n"
                       "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
                       "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
                       "SchedulerType=sched/builtin\nMpiDefault=none\nSwitchType=switch/none\n"
                       "JobCompType=jobcomp/none\nJobAcctGatherType=jobacct_gather/none\n"
                       "AccountingStorageType=accounting_storage/none\n"
                       "ReturnToService=2\nSlurmdParameters=config_overrides\n"
                       "NodeName=" + host + " NodeAddr=127.0.0.1 CPUs=2 RealMemory=" + std::to_string(mem_mib) +
                       " State=UNKNOWN\n"
                       "PartitionName=attnbenchtest Nodes=" + host + " Default=YES MaxTime=INFINITE State=UP\n");

    if (sh(env() + "timeout 30 slurmctld -f '" + conf() + "'", log()) != 0) return "slurmctld did not start";
    if (!adopt("slurmctld")) return "slurmctld wrote no pid file";
    if (!wait_for(20, [&] { return capture(env() + "timeout 5 scontrol ping").find("UP") != std::string::npos; }))
      return "slurmctld does not answer scontrol ping";
    if (sh(env() + "timeout 30 slurmd -f '" + conf() + "'", log()) != 0) return "slurmd did not start";
    if (!adopt("slurmd")) return "slurmd wrote no pid file";
    if (!wait_for(30, [&] { return capture(env() + "timeout 5 sinfo -h -N -o %T").starts_with("idle"); }))
      return "the node does not become idle";
    return "";
  }

  /// Cancels the jobs this test submitted and stops the daemons it started (newest first).
  void stop() {
    if (!jobs_.empty()) {
      std::string ids;
      for (const auto& j : jobs_) ids += " " + j;
      sh(env() + "timeout 10 scancel" + ids, log());
      jobs_.clear();
    }
    for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) {
      const auto& [name, pid] = *it;
      if (!running(pid, name)) continue;
      kill(pid, SIGTERM);
      if (!wait_for(10, [&] { return !running(pid, name); })) {
        kill(pid, SIGKILL);
        wait_for(5, [&] { return !running(pid, name); });
      }
    }
    pids_.clear();
  }

  void submitted(const std::string& job) { jobs_.push_back(job); }

  /// The daemons' logs and the commands' output, for failure messages.
  std::string logs() const {
    std::string s = "--- commands\n" + read_file(log());
    for (const char* f : {"munged.log", "slurmctld.log", "slurmd.log"}) {
      std::string text = read_file(dir_ / "log" / f);
      if (text.size() > 4000) text = "..." + text.substr(text.size() - 4000);
      s += std::string("--- ") + f + "\n" + text;
    }
    return s;
  }

 private:
  std::string pid_file(const std::string& daemon) const { return (dir_ / "run" / (daemon + ".pid")).string(); }

  /// Records the pid a daemon wrote, once its pid file names a live process of that name.
  bool adopt(const std::string& name) {
    pid_t pid = 0;
    const bool ok = wait_for(10, [&] {
      pid = static_cast<pid_t>(std::atol(read_file(pid_file(name)).c_str()));
      return pid > 0 && running(pid, name);
    });
    if (ok) pids_.emplace_back(name, pid);
    return ok;
  }

  fs::path dir_;
  std::vector<std::pair<std::string, pid_t>> pids_;
  std::vector<std::string> jobs_;
};

[[noreturn]] void skip(const std::string& why) {
  std::printf("test_slurm: skipped: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(kSkip);
}

/// Value of "NAME=value" on its own line of `text`.
std::string field(const std::string& text, const std::string& name) {
  const size_t at = text.find(name + "=");
  if (at == std::string::npos || (at > 0 && text[at - 1] != '\n')) return "";
  const size_t from = at + name.size() + 1;
  return text.substr(from, text.find('\n', from) - from);
}

/// Sorted case keys of every case in a database, one a line.
std::string case_keys(const std::string& db) {
  return query_one(db, "SELECT group_concat(case_key, char(10)) FROM (SELECT case_key FROM cases ORDER BY case_key)");
}

}  // namespace

TEST_CASE("a suite submitted as a Slurm job array merges into the cases of one unsharded run") {
  if (geteuid() != 0) skip("starting slurmctld, slurmd and munged needs root");
  for (const char* tool : {"munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "scancel", "timeout"})
    if (!have(tool)) skip(std::string(tool) + " is not installed (scripts/setup.sh installs slurm-wlm and munge)");

  TempDir t;
  chmod(t.path.c_str(), 0755);  // munged wants its socket folder reachable by everyone
  const auto started = Clock::now();
  {
    Cluster cluster(t.path / "slurm");
    if (const std::string why = cluster.start(); !why.empty()) {
      const std::string logs = cluster.logs();
      cluster.stop();
      std::error_code ec;
      fs::remove_all(t.path, ec);
      skip("cannot start a local Slurm: " + why + "\n" + logs);
    }
    INFO("Slurm up after " << std::chrono::duration<double>(Clock::now() - started).count() << " s");

    // The reference: the same selection, unsharded, outside Slurm.
    const std::string ref = t / "reference.db";
    const CmdResult r = run_attnbench("run " + kSelection + " --db '" + ref + "'");
    INFO(r.err);
    REQUIRE(r.code == 0);
    const std::string keys = case_keys(ref);
    REQUIRE(line_count(keys) >= 3);

    const std::string out = t / "campaign";
    const std::string submit_log = t / "submit.log";
    const int submitted = sh("cd '" + t.path.string() + "' && " + cluster.env() + "timeout 60 '" ATTNBENCH_SOURCE_DIR
                             "/scripts/slurm/submit-suite.sh' --attnbench '" ATTNBENCH_BIN_DIR "/attnbench' --suite correctness"
                             " --shards 3 --array-base 5 --out '" + out + "' --campaign slurm-test -- " +
                             kSelection.substr(kSelection.find("--quick")),
                             submit_log);
    const std::string submit_text = read_file(submit_log);
    INFO(submit_text);
    REQUIRE(submitted == 0);
    const std::string array_job = field(submit_text, "ARRAY_JOB_ID"), merge_job = field(submit_text, "MERGE_JOB_ID");
    REQUIRE(!array_job.empty());
    REQUIRE(!merge_job.empty());
    cluster.submitted(array_job);
    cluster.submitted(merge_job);
    // The campaign name goes through exactly when `attnbench run` accepts --campaign.
    const bool has_campaign = capture("'" ATTNBENCH_BIN_DIR "/attnbench' run --help").find("--campaign") != std::string::npos;
    CHECK((submit_text.find("passed as --campaign") != std::string::npos) == has_campaign);

    std::string state;
    const bool finished = wait_for(90, [&] {
      const std::string job = capture(cluster.env() + "timeout 5 scontrol show job -o " + merge_job);
      const size_t at = job.find("JobState=");
      state = at == std::string::npos ? "" : job.substr(at + 9, job.find(' ', at) - at - 9);
      return !state.empty() && state != "PENDING" && state != "RUNNING" && state != "CONFIGURING" && state != "COMPLETING";
    });
    std::string job_logs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out + "/logs", ec))
      job_logs += "--- " + e.path().filename().string() + "\n" + read_file(e.path());
    INFO(job_logs << cluster.logs());
    REQUIRE(finished);
    REQUIRE(state == "COMPLETED");

    const std::string merged = out + "/merged.db";
    REQUIRE(fs::is_regular_file(merged));
    CHECK(case_keys(merged) == keys);
    CHECK(query_one(merged, "SELECT count(*) = count(DISTINCT case_key) FROM cases") == "1");
    CHECK(query_one(merged, "SELECT count(*) = sum(status = 'ok') FROM cases") == "1");
    CHECK(query_one(merged, "SELECT count(*) FROM runs") == "3");
    // One database per shard, numbered 1..3 whatever the array's indices; none is empty.
    int shard_cases = 0;
    for (int i = 1; i <= 3; ++i) {
      const std::string shard = out + "/shard-" + std::to_string(i) + "-of-3.db";
      INFO(shard);
      REQUIRE(fs::is_regular_file(shard));
      const int n = std::stoi(query_one(shard, "SELECT count(*) FROM cases"));
      CHECK(n > 0);
      shard_cases += n;
    }
    CHECK(shard_cases == line_count(keys));
  }
  INFO("whole test " << std::chrono::duration<double>(Clock::now() - started).count() << " s");
  CHECK(std::chrono::duration<double>(Clock::now() - started).count() < 180);
}
