// Plugins run in worker processes: a plugin that segfaults, hangs, aborts or exits on
// one shape costs only that case (stored as crashed or timeout), the run goes on and
// ends with exit 1; a killed supervisor leaves a run that --resume completes, and
// --retry-failed runs the failed cases again.
#include <catch2/catch.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli_harness.h"
#include "run_lock.h"

using namespace attnbench::test;

namespace {

const std::string kFaulty = "ATTNBENCH_PLUGIN_PATH='" ATTNBENCH_FAULTY_PLUGIN_DIR "'";

/// naive and naive:causal over len 64, 128, 256: the faulty plugins fail at len_k 128.
std::string faulty_suite() {
  return R"({"suite": "faulty", "description": "shapes for the faulty test plugins",
  "defaults": {"phase": "prefill", "check": "sampled", "repetitions": 2, "min_time": 0.0,
               "axes": {"heads_q": 2, "head_dim": 64}},
  "groups": [{"name": "g", "variants": ["naive", "naive:causal"], "axes": {"len": [64, 128, 256]}}]})";
}

std::string status_counts(const std::string& db) {
  return query_one(db, "SELECT group_concat(status || '=' || n, ',') FROM"
                       " (SELECT status, count(*) AS n FROM cases GROUP BY status ORDER BY status)");
}

}  // namespace

TEST_CASE("a run over a crashing, aborting or exiting plugin stores those cases as crashed and finishes") {
  struct Expect { const char* backend; const char* how; };
  for (const Expect e : {Expect{"segv", "SIGSEGV"}, Expect{"abort", "SIGABRT"}, Expect{"exit", "exited with status 7"}}) {
    DYNAMIC_SECTION(e.backend) {
      TempDir t;
      write_file(t / "s.json", faulty_suite());
      const std::string db = t / "r.db";
      const CmdResult r =
          run_attnbench("run --suite " + t / "s.json --backend " + e.backend + " --no-peaks --db " + db, kFaulty);
      INFO(r.out << r.err);
      CHECK(r.code == 1);
      CHECK_THAT(r.out, Catch::Contains("6 cases: 4 ok") && Catch::Contains("2 crashed, 0 timeout"));
      CHECK(status_counts(db) == "crashed=2,ok=4");
      CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'crashed' AND len_k = 128") == "2");
      // The message names how the worker ended and quotes its last output.
      const std::string msg = query_one(db, "SELECT message FROM cases WHERE status = 'crashed'");
      CHECK_THAT(msg, Catch::Contains(e.how) && Catch::Contains("failing on purpose"));
      CHECK(query_one(db, "SELECT status FROM runs") == "complete");
      // The cases after a crash ran in a fresh worker and were timed as usual.
      CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics m ON m.case_id = c.id"
                          " AND m.name = 'time_median' WHERE c.len_k = 256") == "2");
    }
  }
}

TEST_CASE("a hanging plugin is killed at --case-timeout and its cases stored as timeout") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  const auto t0 = std::chrono::steady_clock::now();
  const CmdResult r = run_attnbench("run --suite " + t / "s.json --backend hang --no-peaks --case-timeout 1 --db " + db, kFaulty);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(status_counts(db) == "ok=4,timeout=2");
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE status = 'timeout'"), Catch::Contains("1 s limit"));
  CHECK(seconds < 60);  // two 1 s limits, not a hang
}

TEST_CASE("a suite group's own timeout limits its cases") {
  TempDir t;
  std::string suite = faulty_suite();
  suite.replace(suite.find(R"("axes": {"len")"), 0, R"("timeout": 1, )");
  write_file(t / "s.json", suite);
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "s.json --backend hang --no-peaks --db " + db, kFaulty);
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(status_counts(db) == "ok=4,timeout=2");
}

TEST_CASE("a supervisor killed with -9 takes its worker with it; --resume completes; --retry-failed reruns") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  const std::string cmd = kFaulty + " exec '" ATTNBENCH_BIN_DIR "/attnbench' run --suite " + t / "s.json" +
                          " --backend hang --no-peaks --case-timeout 600 --db " + db + " >/dev/null 2>&1";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the first case is stored: the second one (len 128) then hangs.
  for (int i = 0; i < 600 && query_one(db, "SELECT count(*) FROM cases") != "1"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(query_one(db, "SELECT count(*) FROM cases") == "1");
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  // PR_SET_PDEATHSIG: the hanging worker must not outlive its supervisor.
  const std::string probe = "pgrep -f 'worker --parent " + std::to_string(pid) + "$' >/dev/null";
  bool orphan = true;
  for (int i = 0; i < 100 && orphan; ++i) {
    orphan = std::system(probe.c_str()) == 0;
    if (orphan) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(orphan);
  CHECK(query_one(db, "SELECT status FROM runs") == "incomplete");

  const CmdResult resumed = run_attnbench("run --resume 1 --case-timeout 1 --db " + db, kFaulty);
  INFO(resumed.out << resumed.err);
  CHECK(resumed.code == 1);
  CHECK_THAT(resumed.out, Catch::Contains("1 already stored"));
  CHECK(status_counts(db) == "ok=4,timeout=2");
  CHECK(query_one(db, "SELECT status FROM runs") == "complete");

  // A complete run is not resumed again, unless its failed cases are to be retried.
  CHECK(run_attnbench("run --resume 1 --db " + db, kFaulty).code == 2);
  const CmdResult retry = run_attnbench("run --resume 1 --retry-failed --db " + db,
                                        kFaulty + " ATTNBENCH_TEST_FAULT_LEN=999");
  INFO(retry.out << retry.err);
  CHECK(retry.code == 0);
  CHECK_THAT(retry.err, Catch::Contains("2 crashed or timed-out cases run again"));
  CHECK(status_counts(db) == "ok=6");
  CHECK(query_one(db, "SELECT count(*) FROM cases") == "6");
  CHECK(query_one(db, "SELECT status FROM runs") == "complete");
  // Nothing left to retry is an error, not an empty success.
  CHECK(run_attnbench("run --resume 1 --retry-failed --db " + db, kFaulty).code == 2);
}

TEST_CASE("--resume leaves crashed and timed-out cases alone without --retry-failed") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "s.json --backend segv --no-peaks --db " + db, kFaulty).code == 1);
  // As if the supervisor had been killed after storing the crash: one case missing.
  REQUIRE(query_one(db, "SELECT count(*) FROM cases WHERE status = 'crashed'") == "2");
  std::system(("sqlite3 '" + db + "' \"DELETE FROM metrics WHERE case_id = (SELECT max(id) FROM cases);"
               " DELETE FROM samples WHERE case_id = (SELECT max(id) FROM cases);"
               " DELETE FROM cases WHERE id = (SELECT max(id) FROM cases); UPDATE runs SET status = 'incomplete'\"")
                  .c_str());
  REQUIRE(query_one(db, "SELECT count(*) FROM cases") == "5");
  // Even with the plugin fixed, a plain --resume runs only the missing case.
  const CmdResult r = run_attnbench("run --resume 1 --db " + db, kFaulty + " ATTNBENCH_TEST_FAULT_LEN=999");
  INFO(r.out << r.err);
  CHECK_THAT(r.out, Catch::Contains("5 already stored"));
  CHECK(status_counts(db) == "crashed=2,ok=4");
}

TEST_CASE("a run being resumed elsewhere is refused, naming the run") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "s.json --backend segv --no-peaks --db " + db, kFaulty).code == 1);
  REQUIRE(std::system(("sqlite3 '" + db + "' \"UPDATE runs SET status = 'incomplete'\"").c_str()) == 0);
  auto held = attnbench::RunLock::try_acquire(db, 1);
  REQUIRE(held);
  const CmdResult second = run_attnbench("run --resume 1 --retry-failed --db " + db, kFaulty);
  CHECK(second.code == 2);
  CHECK_THAT(second.err, Catch::Contains("run 1 is being run or resumed elsewhere"));
  CHECK(line_count(second.err) == 1);
  CHECK(status_counts(db) == "crashed=2,ok=4");  // nothing changed
  held.reset();
  CHECK(run_attnbench("run --resume 1 --db " + db, kFaulty).code == 1);  // free again: it completes
  CHECK(query_one(db, "SELECT status FROM runs") == "complete");
}

TEST_CASE("--jobs runs several workers of one backend and stores every case once") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "s.json --backend segv --jobs 2 --no-peaks --db " + db, kFaulty);
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(status_counts(db) == "crashed=2,ok=4");
  CHECK(query_one(db, "SELECT count(DISTINCT case_key) FROM cases") == "6");
}

TEST_CASE("a database locked past the busy timeout stops the run with the --resume command") {
  TempDir t;
  write_file(t / "s.json", faulty_suite());
  const std::string db = t / "r.db";
  // The run stores its first case, then its second hangs for 2 s; meanwhile another
  // process takes the write lock for longer than the 5 s busy timeout.
  TempDir io;
  const std::string cmd = kFaulty + " exec '" ATTNBENCH_BIN_DIR "/attnbench' run --suite " + t / "s.json" +
                          " --backend hang --no-peaks --case-timeout 2 --db " + db + " >'" + io / "out" + "' 2>'" +
                          io / "err" + "'";
  const pid_t run = fork();
  REQUIRE(run >= 0);
  if (run == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 600 && query_one(db, "SELECT count(*) FROM cases") != "1"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(query_one(db, "SELECT count(*) FROM cases") == "1");
  const std::string hold = "printf 'BEGIN IMMEDIATE;\\nCREATE TABLE IF NOT EXISTS lock_probe(x);\\n.shell sleep 9\\nROLLBACK;\\n'"
                           " | sqlite3 '" + db + "' >/dev/null 2>&1";
  const pid_t holder = fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    execl("/bin/sh", "sh", "-c", hold.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(run, &status, 0);
  waitpid(holder, nullptr, 0);
  const std::string err = read_file(io / "err");
  INFO(err);
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(err, Catch::Contains("locked") && Catch::Contains("run 1 is incomplete") &&
                      Catch::Contains("attnbench run --resume 1 --db " + db));
  CHECK(query_one(db, "SELECT count(*) FROM cases") == "1");  // what was stored stays
  const CmdResult resumed = run_attnbench("run --resume 1 --case-timeout 1 --db " + db, kFaulty);
  INFO(resumed.out << resumed.err);
  CHECK(resumed.code == 1);
  CHECK(status_counts(db) == "ok=4,timeout=2");
}
