// Needle heatmap (context length x depth) for full, streaming, h2o and snapkv at one
// budget, printed for the report; asserts the literature's shape: full perfect,
// streaming only at the end (recent window), snapkv (observation window) everywhere,
// h2o (accumulated attention, knob off) mostly lost.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>

#include "test_kv_backend.h"
#include "recall_tasks.h"

using namespace attnbench;
using namespace attnbench::recall;

TEST_CASE("needle heatmap: accuracy by context length x depth at budget 128", "[kv][heatmap]") {
  const std::vector<int32_t> lengths{512, 1024, 2048};
  const int n_depths = 6;
  const std::vector<std::string> methods{"full", "streaming:budget=128,sink=4", "h2o:budget=128",
                                         "snapkv:budget=128,window=32,pool=7"};
  std::map<std::string, std::map<std::pair<int, int>, double>> acc;
  const auto grid = depth_grid(lengths, n_depths);
  for (size_t gi = 0; gi < grid.size(); ++gi) {
    for (uint64_t seed : {1, 2}) {
      RecallKnobs k;
      k.seed = seed;
      TaskParams p;
      p.len_k = grid[gi].len_k, p.depth = grid[gi].depth;
      const auto c = make_task(p, k);
      for (const auto& m : methods) {
        const auto r = kvtest::run_recall_case(c, m);
        REQUIRE(r.ok);
        acc[m][{grid[gi].len_k, static_cast<int>(gi % n_depths)}] += r.accuracy / 2;
      }
    }
  }
  double snap = 0, h2o = 0;
  for (const auto& m : methods) {
    std::printf("\n%s\n  Lk \\ depth", m.c_str());
    for (int i = 0; i < n_depths; ++i) std::printf("  %4.0f%%", 100.0 * i / (n_depths - 1));
    std::printf("\n");
    for (int L : lengths) {
      std::printf("  %9d", L);
      for (int i = 0; i < n_depths; ++i) std::printf("  %5.2f", acc[m][{L, i}]);
      std::printf("\n");
    }
  }
  for (int L : lengths)
    for (int i = 0; i < n_depths; ++i) {
      CHECK(acc["full"][{L, i}] == 1.0);
      snap += acc[methods[3]][{L, i}], h2o += acc[methods[2]][{L, i}];
      if (i > 0 && i < n_depths - 2) CHECK(acc[methods[1]][{L, i}] <= 0.25);  // streaming loses the middle
    }
  CHECK(acc[methods[1]][{512, n_depths - 1}] == 1.0);  // the needle at 100% sits in the recent window
  const double cells = lengths.size() * n_depths;
  CHECK(snap / cells >= 0.95);
  CHECK(h2o / cells <= 0.4);
}
