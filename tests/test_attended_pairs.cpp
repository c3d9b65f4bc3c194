// Sparse and selection kernels count the (query, key) pairs they weight, so the
// harness has an attended fraction at every length (not only where the one-hot mass
// probe fits its time budget). Counts are checked against patterns whose pair count is
// known in closed form; exact kernels do not count; a run through the CLI stores the
// counted fraction at a length the probe skips.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "cli_harness.h"
#include "cpu_kernels.h"
#include "test_cpu_common.h"

using namespace attnbench::cpu;
using cpu_test::make_case;
using cpu_test::Shape;

namespace {

/// Causal pairs of one head of length L (query i sees keys 0..i).
uint64_t causal_pairs(int L) { return static_cast<uint64_t>(L) * (L + 1) / 2; }

/// Causal pairs within a window of `w` keys back (query i sees keys max(0, i - w)..i).
uint64_t window_pairs(int L, int w) {
  uint64_t n = 0;
  for (int i = 0; i < L; ++i) n += std::min(i, w) + 1;
  return n;
}

PairCount run_counted(const char* variant, const Shape& s) {
  cpu_test::Case c = make_case(s, 7);
  const Check r = run_variant(variant, c.args);
  INFO(variant << ": " << r.reason);
  REQUIRE(r.ok());
  return last_pair_count();
}

}  // namespace

TEST_CASE("sparse kernels count the pairs they weight", "[cpu][sparse]") {
  // Kernel names as the harness sends them: causal and the window travel in the args.
  Shape s;
  s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.len_q = s.len_k = 300, s.head_dim = 64, s.causal = true;
  const uint64_t heads = static_cast<uint64_t>(s.batch) * s.heads_q;
  auto windowed = [&](int w) {
    Shape t = s;
    t.window_left = w, t.window_right = 0;
    return t;
  };

  const PairCount win = run_counted("sliding_window", windowed(40));
  CHECK(win.counted);
  CHECK(win.pairs == heads * window_pairs(300, 40));
  // A window wider than the sequence keeps every causal pair.
  CHECK(run_counted("sliding_window", windowed(400)).pairs == heads * causal_pairs(300));
  // block_topk keeping more blocks than exist attends every causal pair; fewer, fewer.
  CHECK(run_counted("block_topk:block=32,k=16", s).pairs == heads * causal_pairs(300));
  const PairCount topk = run_counted("block_topk:block=32,k=2", s);
  CHECK(topk.counted);
  CHECK(topk.pairs < heads * causal_pairs(300));
  CHECK(topk.pairs > heads * window_pairs(300, 31));  // at least the local block
  for (const char* v : {"power:block=32,local=32", "strided_heads:local=32", "hip:block=32,k=2",
                        "flexprefill:block=32", "hyper:bits=4,block=32,samples=16"}) {
    INFO(v);
    const PairCount p = run_counted(v, s);
    CHECK(p.counted);
    CHECK(p.pairs > 0);
    CHECK(p.pairs <= heads * causal_pairs(300) + heads * 300);  // hyper's samples may repeat a key once
  }
  // Decode-time top-k: k keys per query head.
  Shape d = s;
  d.len_q = 1, d.len_k = 500;
  CHECK(run_counted("topk_decode:k=64", d).pairs == heads * 64);
}

TEST_CASE("exact kernels do not count, and each call starts from zero", "[cpu][sparse]") {
  Shape s;
  s.heads_q = s.heads_kv = 2, s.len_q = s.len_k = 128, s.head_dim = 64, s.causal = true;
  Shape w = s;
  w.window_left = 16, w.window_right = 0;
  CHECK(run_counted("sliding_window", w).counted);
  for (const char* v : {"flash", "naive", "decode"}) {
    INFO(v);
    Shape t = s;
    if (std::string(v) == "decode") t.len_q = 1;
    CHECK_FALSE(run_counted(v, t).counted);
    CHECK(last_pair_count().pairs == 0);
  }
}

TEST_CASE("a run stores the counted attended fraction where the probe is skipped", "[cpu][sparse][cli]") {
  using namespace attnbench::test;
  TempDir dir;
  // 4K tokens: the one-hot probe would need 64 runs of this case, over its 3 s budget
  // only on a slow machine, so force the skip with check "none" (no probe at all).
  write_file(dir / "s.json", R"({"suite": "pairs", "description": "counted pairs",
   "defaults": {"phase": "prefill", "check": "none", "repetitions": 1, "min_time": 0.0,
                "axes": {"heads_q": 2, "heads_kv": 1, "head_dim": 64}},
   "groups": [{"name": "w", "variants": ["sliding_window:causal,window=128:0", "flash:causal"],
               "axes": {"len": [4096]}}]})");
  const std::string db = dir / "p.db";
  const CmdResult r = run_attnbench("run --suite '" + (dir / "s.json") + "' --backend cpu --no-peaks --db '" + db + "'");
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  const std::string frac = query_one(
      db, "SELECT m.value FROM metrics m JOIN cases c ON c.id = m.case_id WHERE c.config LIKE 'sliding_window%' "
          "AND m.name = 'attended_fraction'");
  REQUIRE_FALSE(frac.empty());
  const double want = static_cast<double>(window_pairs(4096, 128)) / static_cast<double>(causal_pairs(4096));
  CHECK(std::stod(frac) == Approx(want).epsilon(1e-12));
  CHECK(query_one(db, "SELECT count(*) FROM metrics m JOIN cases c ON c.id = m.case_id WHERE c.config LIKE "
                      "'sliding_window%' AND m.name IN ('predicted_speedup', 'attended_flops', 'attended_pairs')") == "3");
  // The exact kernel has nothing to count.
  CHECK(query_one(db, "SELECT count(*) FROM metrics m JOIN cases c ON c.id = m.case_id WHERE c.config = "
                      "'flash:causal' AND m.name = 'attended_fraction'") == "0");
}
