// --cold: the harness flushes the device's last-level cache before every timed call
// (untimed), stores how many bytes it wrote with each case, keeps the case within its
// time limit, and refuses bad sizes with one line and exit 2.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "attnbench/host_cache.h"
#include "cli_harness.h"
#include "gbench_timer.h"

using namespace attnbench::test;

namespace {

/// A tiny decode sweep: two lengths, two repetitions, short min_time.
std::string tiny_decode_suite() {
  return R"({"suite": "cold-tiny", "description": "decode for --cold",
 "defaults": {"phase": "decode", "check": "sampled", "repetitions": 2, "min_time": 0.002,
              "axes": {"batch": 1, "heads_q": 4, "heads_kv": 2, "head_dim": 64, "len_q": 1, "dtype": "fp32"}},
 "groups": [{"name": "d", "variants": ["decode"], "axes": {"len_k": [256, 1024]}}]})";
}

int count(const std::string& db, const std::string& sql) { return std::atoi(query_one(db, sql).c_str()); }

}  // namespace

TEST_CASE("time_case runs the prepare step before every call and leaves it out of the overhead", "[timing]") {
  int prepared = 0, called = 0;
  const attnbench::TimingResult t = attnbench::time_case(
      "prepared", 3, 0.0, [&] { ++called; return 1e-4; }, [&] { ++prepared; }, 4);
  REQUIRE(t.error.empty());
  REQUIRE(t.samples.size() == 3);
  for (const auto& s : t.samples) CHECK(s.iterations == 4);  // fixed iterations, not min_time
  CHECK(called == prepared);
  CHECK(t.calls == called);
  CHECK(t.prepare_seconds >= 0);
  CHECK(t.overhead_per_call() <= (t.wall_seconds - t.kernel_seconds) / t.calls);
}

TEST_CASE("the host's last-level cache is known on x86 (sysfs or cpuid)", "[timing]") {
#if defined(__x86_64__)
  CHECK(attnbench::host_last_level_cache_bytes() >= (size_t{256} << 10));
#else
  std::exit(77);
#endif
}

TEST_CASE("run --cold stores the flush size with every timed case; warm runs store none", "[cli][timing]") {
  TempDir dir;
  write_file(dir / "cold.json", tiny_decode_suite());
  const std::string db = dir / "c.db", suite = dir / "cold.json";
  const CmdResult warm = run_attnbench("run --suite '" + suite + "' --backend cpu --no-peaks --db '" + db + "'");
  INFO(warm.out << warm.err);
  REQUIRE(warm.code == 0);
  const CmdResult cold = run_attnbench("run --suite '" + suite + "' --backend cpu --no-peaks --cold-bytes 8M --db '" + db + "'");
  INFO(cold.out << cold.err);
  REQUIRE(cold.code == 0);
  const std::string flush = "(SELECT value FROM metrics m WHERE m.case_id = c.id AND m.name = 'cold_flush_bytes')";
  CHECK(count(db, "SELECT count(*) FROM cases c WHERE run_id = 2 AND status = 'ok' AND " + flush + " = 8388608") == 2);
  CHECK(count(db, "SELECT count(*) FROM cases c WHERE run_id = 1 AND " + flush + " IS NOT NULL") == 0);
  CHECK(count(db, "SELECT count(*) FROM cases WHERE run_id = 1 AND status = 'ok'") == 2);
  // The selection keeps the flag, so --resume finishes a cold run cold.
  CHECK(query_one(db, "SELECT json_extract(selection, '$.cold') FROM runs WHERE id = 2") == "1");
  CHECK(query_one(db, "SELECT json_extract(selection, '$.cold_bytes') FROM runs WHERE id = 2") == "8388608");
  // Plain --cold: twice the cache the backend declares (or the host's), at least 512 KiB.
  const CmdResult plain = run_attnbench("run --suite '" + suite + "' --backend cpu --no-peaks --cold --db '" + db + "'");
  INFO(plain.out << plain.err);
  REQUIRE(plain.code == 0);
  CHECK(count(db, "SELECT count(*) FROM cases c WHERE run_id = 3 AND " + flush + " = " +
                      std::to_string(2 * attnbench::host_last_level_cache_bytes())) == 2);
}

TEST_CASE("--cold-bytes out of range or unreadable is one line and exit 2", "[cli][timing]") {
  TempDir dir;
  write_file(dir / "cold.json", tiny_decode_suite());
  for (const char* bad : {"12", "abc", "4T"}) {
    const std::string db = dir / (std::string("bad") + bad + ".db");
    const CmdResult r = run_attnbench("run --suite '" + (dir / "cold.json") + "' --backend cpu --no-peaks --cold-bytes " + bad +
                                      " --db '" + db + "'");
    INFO(bad << ": " << r.out << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find("--cold-bytes") != std::string::npos);
  }
}
