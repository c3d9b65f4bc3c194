// End to end: suite file -> CPU plugin -> SQLite -> HTML, plus kill -9 and --resume.
#include <catch2/catch.hpp>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cli_harness.h"

using namespace attnbench::test;

TEST_CASE("a run stores provenance, cases, samples, metrics and peaks; report renders it") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "tiny.json --backend cpu --seed 7 --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("4 cases: 4 ok"));
  // WAL while the run writes; the last writer to close switches back to a rollback
  // journal, so readers in read-only directories need no -wal/-shm files.
  CHECK(query_one(db, "PRAGMA journal_mode") == "delete");
  CHECK(query_one(db, "PRAGMA user_version") == "3");
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE target IS NULL AND group_name != ''") == "4");
  CHECK(query_one(db, "SELECT status FROM runs") == "complete");
  CHECK(query_one(db, "SELECT seed FROM runs") == "7");
  CHECK_FALSE(query_one(db, "SELECT git_sha FROM runs").empty());
  CHECK_THAT(query_one(db, "SELECT command_line FROM runs"), Catch::Contains("--seed 7"));
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'ok'") == "4");
  CHECK(query_one(db, "SELECT count(*) FROM samples") == "8");  // 2 repetitions x 4 cases
  CHECK(query_one(db, "SELECT count(DISTINCT case_id) FROM metrics WHERE name = 'flops_per_second' AND value > 0") == "4");
  CHECK(query_one(db, "SELECT max(value) < 1e-5 FROM metrics WHERE name = 'rel_error'") == "1");
  CHECK(std::stod(query_one(db, "SELECT value FROM machine_peaks WHERE name = 'flops_f32'")) > 1e9);
  CHECK(std::stod(query_one(db, "SELECT value FROM machine_peaks WHERE name = 'bytes_per_second'")) > 1e8);
  // Causal runs half the FLOPs of non-causal on the same shape (the model counts visible pairs).
  const double full = std::stod(query_one(db, "SELECT flops FROM cases WHERE config = 'flash' AND len_k = 128"));
  const double causal = std::stod(query_one(db, "SELECT flops FROM cases WHERE config = 'flash:causal' AND len_k = 128"));
  CHECK(causal == Approx(full * (128.0 * 129 / 2) / (128.0 * 128)));

  const CmdResult rep = run_attnbench("report --db " + db + " -o " + t / "report.html");
  INFO(rep.err);
  REQUIRE(rep.code == 0);
  const std::string html = read_file(t / "report.html");
  CHECK_THAT(html, Catch::Contains("<svg") && Catch::Contains("flash:causal") && Catch::Contains("tiny"));
}

TEST_CASE("the same seed reproduces bit-identical quality metrics") {
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  const std::string q = "SELECT group_concat(printf('%.17g', m.value)) FROM metrics m JOIN cases c ON c.id = m.case_id"
                        " WHERE m.name = 'rel_error' AND c.run_id = ";
  CHECK(query_one(db, q + "1") == query_one(db, q + "2"));
  CHECK_FALSE(query_one(db, q + "1").empty());
}

TEST_CASE("list, env and selection flags work") {
  const CmdResult backends = run_attnbench("list backends");
  CHECK(backends.code == 0);
  CHECK_THAT(backends.out, Catch::Contains("cpu"));
  const CmdResult suites = run_attnbench("list suites");
  CHECK_THAT(suites.out, Catch::Contains("correctness") && Catch::Contains("long-context"));
  const CmdResult env = run_attnbench("env");
  CHECK_THAT(env.out, Catch::Contains("git_sha") && Catch::Contains("compiler") && Catch::Contains("backend cpu"));

  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --variant 'flash:causal' --filter 'lk=128' --db " + db).code == 0);
  CHECK(query_one(db, "SELECT group_concat(config || ' ' || len_k) FROM cases") == "flash:causal 128");
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --shard 2/2 --db " + db).code == 0);
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE run_id = 2") == "2");
}

TEST_CASE("kill -9 mid-run leaves a consistent incomplete run that --resume completes") {
  TempDir t;
  const std::string db = t / "r.db";
  // The full correctness suite takes long enough to be killed part-way.
  const pid_t pid = fork();
  if (pid == 0) {
    freopen("/dev/null", "w", stderr);
    execl(ATTNBENCH_BIN_DIR "/attnbench", "attnbench", "run", "--suite", "correctness", "--no-peaks", "--db", db.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string n = query_one(db, "SELECT count(*) FROM cases");
    if (!n.empty() && std::stoi(n) >= 20) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));

  CHECK(query_one(db, "PRAGMA integrity_check") == "ok");
  CHECK(query_one(db, "SELECT status FROM runs WHERE id = 1") == "incomplete");
  const int stored = std::stoi(query_one(db, "SELECT count(*) FROM cases"));
  CHECK(stored >= 20);
  // Every stored case is whole: no case without its metrics.
  CHECK(query_one(db, "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM metrics m WHERE m.case_id = c.id)") == "0");

  const CmdResult resumed = run_attnbench("run --resume 1 --no-peaks --db " + db);
  INFO(resumed.err);
  CHECK(resumed.code == 0);
  CHECK_THAT(resumed.out, Catch::Contains("already stored"));
  CHECK(query_one(db, "SELECT status FROM runs WHERE id = 1") == "complete");
  CHECK(query_one(db, "SELECT count(*) FROM runs") == "1");
  CHECK(query_one(db, "SELECT count(*) - count(DISTINCT case_key) FROM cases") == "0");
  // The resumed run holds exactly the planned cases: `list suites` prints the plan size.
  const CmdResult plan = run_attnbench("list suites");
  const size_t at = plan.out.find("correctness");
  REQUIRE(at != std::string::npos);
  const int planned = std::stoi(plan.out.substr(at + std::string("correctness").size()));
  CHECK(std::stoi(query_one(db, "SELECT count(*) FROM cases")) == planned);
  CHECK(run_attnbench("run --resume 1 --db " + db).code == 2);  // already complete
}

TEST_CASE("a GPU backend without a device records its cases as no_device, and is not a default") {
  const std::string plugin = ATTNBENCH_BIN_DIR "/plugins/libattnbench-backend-cuda.so";
  if (!std::filesystem::exists(plugin)) {
    WARN("CUDA plugin not built here; nothing to check");
    return;
  }
  if (run_attnbench("list backends").out.find("cuda     0 device(s)") == std::string::npos) {
    WARN("a CUDA device is present; the no-device path is not exercised");
    return;
  }
  TempDir t;
  write_file(t / "tiny.json", tiny_suite_json());
  const std::string db = t / "r.db";
  const CmdResult named = run_attnbench("run --suite " + t / "tiny.json --backend cuda --no-peaks --db " + db);
  INFO(named.err);
  CHECK(named.code == 0);
  CHECK(query_one(db, "SELECT count(*) || ' ' || min(status) || ' ' || max(status) FROM cases") == "4 no_device no_device");
  CHECK_THAT(query_one(db, "SELECT message FROM cases LIMIT 1"), Catch::Contains("no device"));
  REQUIRE(run_attnbench("run --suite " + t / "tiny.json --no-peaks --db " + db).code == 0);
  CHECK(query_one(db, "SELECT group_concat(DISTINCT backend) FROM cases WHERE run_id = 2") == "cpu");
}
