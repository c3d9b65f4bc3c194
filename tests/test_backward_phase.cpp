// Suite phase "backward" end to end: the CLI plans backward cases, the worker runs the CPU
// plugin's backward on oracle O and LSE, checks dQ, dK, dV against the fp64 oracle, times
// it and stores the case; backends without a backward entry get `unsupported`.
#include <catch2/catch.hpp>

#include <string>

#include "ci_flow_helpers.h"
#include "cli_harness.h"

using namespace attnbench::test;

namespace {

std::string backward_suite(const std::string& variants) {
  return R"({"suite": "bwd", "description": "backward phase test",
  "defaults": {"phase": "backward", "check": "full", "repetitions": 1, "min_time": 0,
               "axes": {"heads_q": 4, "heads_kv": 2, "head_dim": 64}},
  "groups": [{"name": "g", "variants": [)" + variants + R"(], "axes": {"len": [45], "dtype": ["fp32", "bf16"]}}]})";
}

}  // namespace

TEST_CASE("backward cases run, pass the gradient check and are stored with phase backward") {
  TempDir t;
  write_file(t / "bwd.json",
             backward_suite(R"("naive:causal", "flash:causal", "flash:causal,softcap=30", "flash:causal,bias_rank=8")"));
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "bwd.json --backend cpu --no-peaks --db " + db);
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE phase = 'backward'") == "8");
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE case_key LIKE '%|backward'") == "8");  // apart from forward keys
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'ok'") == "4");
  // softcap: the oracle does not model it, so the harness refuses with the reason.
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE config LIKE '%softcap%' AND dtype = 'fp32'"),
             Catch::Contains("softcap"));
  CHECK(query_one(db, "SELECT status FROM cases WHERE config LIKE '%softcap%' AND dtype = 'fp32'") == "unsupported");
  // A low-rank bias is other maths than the oracle's plain attention: refused the same way.
  CHECK(query_one(db, "SELECT status FROM cases WHERE config LIKE '%bias_rank%' AND dtype = 'fp32'") == "unsupported");
  CHECK_THAT(query_one(db, "SELECT message FROM cases WHERE config LIKE '%bias_rank%' AND dtype = 'fp32'"),
             Catch::Contains("plain attention"));
  // Every gradient was compared and is within the fp32 threshold.
  for (const char* m : {"rel_error_dq", "rel_error_dk", "rel_error_dv"}) {
    const std::string worst = query_one(db, std::string("SELECT max(m.value) FROM metrics m JOIN cases c ON c.id = "
                                                        "m.case_id WHERE c.dtype = 'fp32' AND m.name = '") + m + "'");
    INFO(m << " " << worst);
    REQUIRE(!worst.empty());
    CHECK(std::stod(worst) <= 1e-5);
  }
  // Timed, with the 2.5x FLOP model of the forward (4 d per visible pair).
  CHECK(query_one(db, "SELECT count(*) FROM cases c WHERE status = 'ok' AND EXISTS (SELECT 1 FROM metrics m "
                      "WHERE m.case_id = c.id AND m.name = 'time_median' AND m.value > 0)") == "4");
  const double pairs = 45.0 * 46.0 / 2.0;
  const std::string flops = query_one(db, "SELECT flops FROM cases WHERE config = 'flash:causal' AND dtype = 'fp32'");
  REQUIRE(!flops.empty());
  CHECK(std::stod(flops) == Approx(2.5 * 4.0 * 64 * pairs * 4));
}

TEST_CASE("a backend without a backward entry stores backward cases as unsupported") {
  TempDir t;
  write_file(t / "bwd.json", backward_suite(R"("naive")"));
  const std::string db = t / "r.db";
  const CmdResult r = run_attnbench("run --suite " + t / "bwd.json --backend slow --no-peaks --db " + db, slow_env(0));
  INFO(r.out << r.err);
  CHECK(r.code == 0);
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE status = 'unsupported' AND phase = 'backward'") == "2");
  CHECK_THAT(query_one(db, "SELECT message FROM cases LIMIT 1"), Catch::Contains("backward"));
}
