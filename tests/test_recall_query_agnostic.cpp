// Query-agnostic compression ("compress_before_question"): the generator keeps K, V and
// the questions and swaps only the question tokens' prompt queries for context queries;
// the suite expands both settings with distinct keys over one data shape; observation-
// window methods lose the needle when the question is not in their window while methods
// that read no queries are unchanged; the report pairs the two settings per cell.
#include <catch2/catch.hpp>

#include <set>

#include "recall_query_agnostic.h"
#include "recall_suite.h"
#include "suite_file.h"
#include "test_kv_backend.h"

using namespace attnbench;

namespace {

recall::RecallCase needle(bool in_prompt, double depth = 0.5, uint64_t case_hash = 7) {
  recall::TaskParams p;
  p.len_k = 1024;
  p.depth = depth;
  recall::RecallKnobs k;
  k.case_hash = case_hash;
  k.question_in_prompt = in_prompt;
  return recall::make_task(p, k);
}

Suite parse(const std::string& text, bool quick = false) {
  return parse_suite(text, "t.json", quick);
}

std::string suite_with(const std::string& cbq) {
  return R"({"suite": "qa", "kind": "recall", "defaults": {"axes": {"budget": 128}},
    "groups": [{"name": "n", "task": "single_needle", "compress_before_question": )" + cbq +
         R"(, "axes": {"len_k": [512], "depth": [0.5]}, "methods": ["snapkv", "full"], "variants": ["flash:causal"]}]})";
}

}  // namespace

TEST_CASE("query-agnostic generation changes only the question tokens' prompt queries", "[recall][agnostic]") {
  const auto a = needle(true), b = needle(false);
  CHECK(a.k == b.k);
  CHECK(a.v == b.v);
  CHECK(a.q_question == b.q_question);
  CHECK(a.measured_margin == b.measured_margin);
  const size_t d = a.head_dim, Lk = a.len_k;
  size_t differing_tail = 0, differing_context = 0;
  for (int h = 0; h < a.heads_q; ++h)
    for (size_t t = 0; t < Lk; ++t) {
      const size_t off = (h * Lk + t) * d;
      const bool same = std::equal(a.q_context.begin() + off, a.q_context.begin() + off + d, b.q_context.begin() + off);
      (static_cast<int>(t) >= a.tail_start ? differing_tail : differing_context) += !same;
    }
  CHECK(differing_context == 0);
  CHECK(differing_tail == static_cast<size_t>(a.heads_q) * (Lk - a.tail_start));
}

TEST_CASE("compress_before_question expands both settings over one data shape", "[recall][agnostic]") {
  const Suite s = parse(suite_with("[false, true]"));
  std::set<std::string> keys, data_shapes;
  int agnostic = 0, variants = 0;
  for (const CaseSpec& c : s.cases) {
    keys.insert(c.key());
    data_shapes.insert(c.recall->data_shape());
    if (c.recall->is_variant()) {
      ++variants;
      CHECK_FALSE(c.recall->compress_before_question);  // variants compress nothing
      continue;
    }
    if (c.recall->compress_before_question) {
      ++agnostic;
      CHECK(c.recall->shape() == c.recall->data_shape() + ",compress_before_question=1");
    } else {
      CHECK(c.recall->shape() == c.recall->data_shape());
    }
  }
  CHECK(keys.size() == s.cases.size());
  CHECK(data_shapes.size() == 1);
  CHECK(agnostic == 2);
  CHECK(variants == 1);
  CHECK(s.cases.size() == 5);
  CHECK(parse(suite_with("true")).cases.size() == 3);
  CHECK(parse(suite_with("false")).cases.size() == 3);
}

TEST_CASE("bad compress_before_question values are refused naming the field", "[recall][agnostic]") {
  for (const char* bad : {"\"yes\"", "[]", "[true, true]", "1"}) {
    INFO(bad);
    REQUIRE_THROWS_WITH(parse(suite_with(bad)), Catch::Contains("compress_before_question") && Catch::Contains("t.json"));
  }
  // In a quick block too, and in full runs.
  const std::string quick_bad = R"({"suite": "qa", "kind": "recall", "groups": [{"name": "n", "task": "single_needle",
    "methods": ["full"], "quick": {"compress_before_question": "x"}}]})";
  REQUIRE_THROWS_WITH(parse(quick_bad, false), Catch::Contains("quick") && Catch::Contains("compress_before_question"));
}

TEST_CASE("the shipped recall suite runs both settings for every quick method", "[recall][agnostic]") {
  const Suite quick = load_suite(ATTNBENCH_SOURCE_DIR "/suites/recall.json", true);
  std::set<std::string> aware, agnostic;
  for (const CaseSpec& c : quick.cases)
    if (!c.recall->is_variant()) (c.recall->compress_before_question ? agnostic : aware).insert(c.recall->method);
  CHECK(!aware.empty());
  CHECK(aware == agnostic);
}

TEST_CASE("snapkv loses the needle without the question in its window; streaming does not notice", "[recall][agnostic]") {
  // Over several haystacks: without the question, snapkv drops the needle, and whether an
  // answer is still decoded then is a coincidence of the haystack values it kept (one
  // haystack repeats its coincidence at every depth, so cases differ by their hash).
  double snap_aware = 0, snap_agnostic = 0, mass_aware = 0, mass_agnostic = 0;
  const int n = 6;
  for (uint64_t hash = 7; hash < 7 + n; ++hash) {
    const double depth = 0.2 + 0.12 * (hash - 7);
    const auto aware = needle(true, depth, hash), agnostic = needle(false, depth, hash);
    const auto a = kvtest::run_recall_case(aware, "snapkv:budget=128");
    const auto g = kvtest::run_recall_case(agnostic, "snapkv:budget=128");
    snap_aware += a.accuracy / n, snap_agnostic += g.accuracy / n;
    mass_aware += a.mass_kept, mass_agnostic += g.mass_kept;
    const auto st_aware = kvtest::run_recall_case(aware, "streaming:budget=128");
    const auto st_agnostic = kvtest::run_recall_case(agnostic, "streaming:budget=128");
    CHECK(st_aware.accuracy == st_agnostic.accuracy);
    CHECK(st_aware.mass_kept == st_agnostic.mass_kept);
  }
  CHECK(snap_aware == Approx(1.0));
  CHECK(snap_agnostic < 0.5);
  CHECK(mass_agnostic < mass_aware);
}

TEST_CASE("the report pairs the two settings per cell", "[recall][agnostic][report]") {
  using reports::CaseResult;
  const auto mk = [](const std::string& shape, double acc, double cbq) {
    CaseResult c;
    c.status = "ok", c.config = "kv=snapkv:budget=128", c.backend = "cpu", c.shape = shape;
    c.metrics = {{"attention_mass_kept", acc / 2, "ratio"}, {"compress_before_question", cbq, "count"},
                 {"recall_accuracy", acc, "ratio"}};
    return c;
  };
  reports::RunData data;
  data.cases = {mk("task=a,lk=512", 1.0, 0), mk("task=a,lk=512,compress_before_question=1", 0.0, 1),
                mk("task=b,lk=512", 1.0, 0), mk("task=b,lk=512,compress_before_question=1", 0.5, 1),
                mk("task=c,lk=512", 0.25, 0)};  // unpaired: left out of both columns
  const auto rows = reports::query_agnostic_rows(data);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].pairs == 2);
  CHECK(rows[0].accuracy_aware == Approx(1.0));
  CHECK(rows[0].accuracy_agnostic == Approx(0.25));
  CHECK(rows[0].mass_agnostic == Approx(0.125));
  const std::string html = reports::render_query_agnostic_table(data);
  CHECK(html.find("id=\"recall-query-agnostic\"") != std::string::npos);
  CHECK(html.find("<td>0.250</td>") != std::string::npos);
  reports::RunData lone;
  lone.cases = {mk("task=c,lk=512", 0.25, 0)};
  CHECK(reports::render_query_agnostic_table(lone).empty());
}
