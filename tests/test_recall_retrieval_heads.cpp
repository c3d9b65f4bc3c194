// Retrieval heads (knob retrieval_kv_heads): only the drawn KV heads' questions find the
// needle, the others are streaming heads; accuracy is judged on the retrieving query
// heads; duo keeps the needle only when its retrieval heads are those heads, which
// identify=1 finds from the observation window. Distractors are no sinks (generator v2).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "recall_suite.h"
#include "suite_file.h"
#include "test_kv_backend.h"

using namespace attnbench;

namespace {

recall::RecallCase needle(uint64_t case_hash, int retrieval_kv_heads) {
  recall::TaskParams p;
  p.len_k = 1024;
  p.depth = 0.4;
  recall::RecallKnobs k;
  k.heads_q = 8, k.heads_kv = 4, k.case_hash = case_hash;
  k.retrieval_kv_heads = retrieval_kv_heads;
  return recall::make_task(p, k);
}

/// The KV head whose queries are judged (the case has exactly one).
int retrieving_kv_head(const recall::RecallCase& c) {
  const int grp = c.heads_q / c.heads_kv;
  for (int j = 0; j < c.heads_kv; ++j)
    if (c.judged_head[j * grp]) return j;
  return -1;
}

}  // namespace

TEST_CASE("only the drawn KV heads' questions meet the needle with the designed margin", "[recall][retrieval]") {
  const auto all = needle(3, 0);
  CHECK(std::all_of(all.judged_head.begin(), all.judged_head.end(), [](uint8_t x) { return x == 1; }));
  const auto one = needle(3, 1);
  REQUIRE(one.judged_head.size() == 8);
  CHECK(std::accumulate(one.judged_head.begin(), one.judged_head.end(), 0) == 2);  // one GQA group of 2
  const int j = retrieving_kv_head(one);
  REQUIRE(j >= 0);
  CHECK(one.judged_head[2 * j + 1] == 1);
  // K and V are the same data; only the non-retrieving heads' questions change.
  CHECK(one.k == all.k);
  CHECK(one.v == all.v);
  for (int h = 0; h < 8; ++h) {
    INFO("head " << h);
    const double m = one.measured_margin[h];  // one question
    if (one.judged_head[h]) CHECK(m == Approx(all.measured_margin[h]));
    if (one.judged_head[h]) CHECK(m > 2.5);  // designed 4
    else CHECK(m < -2.0);                    // a streaming head's question ignores the needle
  }
  // Different cases draw different heads (the draw follows the case hash).
  std::vector<int> drawn;
  for (uint64_t hsh = 1; hsh <= 12; ++hsh) drawn.push_back(retrieving_kv_head(needle(hsh, 1)));
  std::sort(drawn.begin(), drawn.end());
  CHECK(std::unique(drawn.begin(), drawn.end()) - drawn.begin() >= 2);
  CHECK_THROWS_WITH(needle(3, 5), Catch::Contains("retrieval_kv_heads"));
}

TEST_CASE("full attention is judged on the retrieving heads and stays exact", "[recall][retrieval]") {
  const auto c = needle(3, 1);
  const auto full = kvtest::run_recall_case(c, "full");
  CHECK(full.accuracy == 1.0);
  CHECK(full.mass_kept == Approx(1.0));
}

TEST_CASE("duo keeps the needle only on the right heads; identify=1 finds them", "[recall][retrieval][duo]") {
  // A case whose retrieving KV head is not head 0: duo's default (the first heads) misses it.
  uint64_t hsh = 1;
  while (retrieving_kv_head(needle(hsh, 1)) == 0) ++hsh;
  const auto c = needle(hsh, 1);
  INFO("case hash " << hsh << ", retrieving KV head " << retrieving_kv_head(c));
  const auto first = kvtest::run_recall_case(c, "duo:retrieval=0.25,recent=64,sink=4");
  const auto found = kvtest::run_recall_case(c, "duo:retrieval=0.25,recent=64,sink=4,identify=1");
  CHECK(first.accuracy == 0.0);
  CHECK(found.accuracy == 1.0);
  CHECK(found.mass_kept > first.mass_kept);
}

TEST_CASE("context queries do not single out distractors", "[recall][generator]") {
  // Generator v1 left distractor keys a component along the sink direction, so every
  // context query's sink pull made them extra sinks (up to 0.7 of a row's attention).
  const auto c = needle(1, 0);
  const int d = c.head_dim, Lk = c.len_k, grp = c.heads_q / c.heads_kv;
  REQUIRE_FALSE(c.distractor_positions.empty());
  double worst = 0;
  for (int h = 0; h < c.heads_q; ++h)
    for (int t = Lk - 64; t < c.tail_start; ++t) {
      const float* q = &c.q_context[(static_cast<size_t>(h) * Lk + t) * d];
      std::vector<double> s(t + 1);
      double mx = -1e300, z = 0;
      for (int j = 0; j <= t; ++j) {
        double a = 0;
        for (int i = 0; i < d; ++i) a += double(q[i]) * c.k[(static_cast<size_t>(h / grp) * Lk + j) * d + i];
        mx = std::max(mx, s[j] = a / std::sqrt(double(d)));
      }
      for (double x : s) z += std::exp(x - mx);
      for (int p : c.distractor_positions)
        if (p <= t) worst = std::max(worst, std::exp(s[p] - mx) / z);
    }
  CHECK(worst < 0.05);
}

TEST_CASE("recall suites take retrieval_kv_heads as a knob and refuse more than heads_kv", "[recall][retrieval]") {
  const auto suite = [](int n) {
    return R"({"suite": "rh", "kind": "recall", "defaults": {"axes": {"budget": 128}},
      "groups": [{"name": "n", "task": "single_needle", "knobs": {"retrieval_kv_heads": )" +
           std::to_string(n) + R"(}, "axes": {"len_k": [512], "heads_q": [8], "heads_kv": [4]}, "methods": ["full"]}]})";
  };
  const Suite s = parse_suite(suite(1), "t.json", false);
  REQUIRE_FALSE(s.cases.empty());
  CHECK(s.cases[0].recall->shape().find("retrieval_kv_heads=1") != std::string::npos);
  CHECK_THROWS_WITH(parse_suite(suite(5), "t.json", false),
                    Catch::Contains("retrieval_kv_heads 5 exceeds heads_kv 4") && Catch::Contains("t.json"));
}
