// tree on the CPU (speculative-decoding tree verification): it equals the fp64 oracle
// under the draft-tree mask for any branch, tree size, prefix, GQA, dtype, softcap and
// chunk; branch=1 is flash causal; on a hand-built input each node weighs exactly the
// prefix and its ancestors and itself; bad options and shapes are refused with a reason.
#include <catch2/catch.hpp>

#include <set>

#include "test_cpu_checks.h"

using namespace cpu_test;

namespace {

/// Runs `variant` on NaN-poisoned outputs and compares every row with the fp64 oracle
/// under the tree mask of `branch` (run_and_compare's oracle knows only causal/window).
void expect_tree_oracle(const std::string& variant, const Shape& s, int branch, unsigned seed) {
  Case c = make_case(s, seed);
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check r = cpu::run_variant(variant.c_str(), c.args);
  INFO(variant << ": " << describe(s) << " -> " << r.reason);
  REQUIRE(r.ok());
  const std::vector<RowId> rows = all_rows(s);
  std::vector<double> ref(rows.size() * s.head_dim);
  const KeyMask mask{{0, -1, -1}, branch};
  reference_attention_rows(c.args, mask, c.qf.data(), c.kf.data(), c.vf.data(), rows, ref.data());
  expect_output_matches(c, ref);
}

std::string tree(int branch, const char* extra = "") { return "tree:branch=" + std::to_string(branch) + extra; }

Shape tree_shape(int batch, int heads_q, int heads_kv, int len_q, int prefix, int d, ab_dtype t) {
  Shape s;
  s.batch = batch; s.heads_q = heads_q; s.heads_kv = heads_kv; s.len_q = len_q; s.len_k = prefix + len_q;
  s.head_dim = d; s.dtype = t;
  return s;
}

/// Output of `variant` on case c decoded to fp32 (the run must be accepted).
std::vector<float> run_output(const std::string& variant, Case& c) {
  std::fill(c.o.begin(), c.o.end(), 0xFF);
  const cpu::Check r = cpu::run_variant(variant.c_str(), c.args);
  INFO(variant << " -> " << r.reason);
  REQUIRE(r.ok());
  const size_t n = static_cast<size_t>(c.shape.batch) * c.shape.heads_q * c.shape.len_q * c.shape.head_dim;
  std::vector<float> o(n);
  decode(c.shape.dtype, c.o.data(), o.data(), n);
  return o;
}

}  // namespace

TEST_CASE("tree equals the fp64 oracle under the tree mask", "[cpu][tier2][tree]") {
  unsigned seed = 21;
  for (int branch : {1, 2, 3, 4})
    for (int lq : {1, 7, 31, 64})
      for (int prefix : {0, 100, 1000})
        for (int gqa : {1, 4})
          for (ab_dtype t : {AB_F32, AB_BF16}) {
            Shape s = tree_shape(2, 2 * gqa, 2, lq, prefix, 64, t);
            s.causal = (lq + prefix) % 2 == 1;  // both flags are accepted: the tree implies causality
            expect_tree_oracle(tree(branch), s, branch, seed++);
          }
}

TEST_CASE("tree: softcap, fp16, odd head dim, default branch, big trees", "[cpu][tier2][tree]") {
  Shape s = tree_shape(3, 8, 2, 31, 700, 64, AB_F32);
  s.softcap = 5.0f;
  expect_tree_oracle(tree(3), s, 3, 1);
  s.dtype = AB_BF16;
  expect_tree_oracle(tree(3), s, 3, 2);
  s.softcap = 0.0f;
  s.dtype = AB_F16;
  expect_tree_oracle(tree(2), s, 2, 3);
  s.dtype = AB_F32;
  expect_tree_oracle(tree(4), s, 4, 4);
  expect_tree_oracle("tree", s, 2, 5);  // branch defaults to 2
  Shape odd = tree_shape(2, 6, 3, 13, 77, 40, AB_BF16);  // head dim not a multiple of 16: converted K/V rows
  expect_tree_oracle(tree(2), odd, 2, 6);
  odd.dtype = AB_F32;
  expect_tree_oracle(tree(5), odd, 5, 7);
  Shape big = tree_shape(1, 4, 1, 256, 300, 32, AB_F32);  // the largest tree; MQA; depth 255 for branch 1
  for (int branch : {1, 2, 64}) expect_tree_oracle(tree(branch), big, branch, 8 + branch);
}

TEST_CASE("tree with branch=1 equals flash causal", "[cpu][tier2][tree]") {
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (int prefix : {0, 37, 1000}) {
      Shape s = tree_shape(2, 8, 2, 31, prefix, 64, t);
      s.causal = true;
      Case c = make_case(s, 40 + prefix);
      const std::vector<float> got = run_output("tree:branch=1", c), want = run_output("flash", c);
      REQUIRE(got.size() == want.size());
      double err2 = 0, ref2 = 0;
      for (size_t e = 0; e < got.size(); ++e) {
        err2 += (got[e] - want[e]) * double(got[e] - want[e]);
        ref2 += want[e] * double(want[e]);
      }
      INFO(describe(s) << ": rel L2 difference " << std::sqrt(err2 / ref2));
      // Both accumulate in fp32 in different orders; 16-bit outputs may differ by one rounding.
      CHECK(std::sqrt(err2 / ref2) < (t == AB_F32 ? 1e-6 : 4e-3));
    }
}

TEST_CASE("tree: each node weighs exactly the prefix and its ancestors and itself", "[cpu][tier2][tree]") {
  // branch 2, 7 nodes: 0 is the root, 1 and 2 its children, 3 4 under 1, 5 6 under 2.
  const std::vector<std::vector<int>> ancestors = {{0}, {0, 1}, {0, 2}, {0, 1, 3}, {0, 1, 4}, {0, 2, 5}, {0, 2, 6}};
  const int prefix = 3, lq = 7, lk = prefix + lq, d = 16;  // d >= len_k: V one-hot per key
  for (int heads_q : {1, 2}) {  // 2: both query heads of one KV head (GQA)
    Shape s = tree_shape(1, heads_q, 1, lq, prefix, d, AB_F32);
    Case c = make_case(s, 7);
    std::vector<float> v(static_cast<size_t>(lk) * d, 0.0f);
    for (int t = 0; t < lk; ++t) v[static_cast<size_t>(t) * d + t] = 1.0f;  // output lane t = weight of key t
    set_inputs(c, c.qf, c.kf, v);
    run_output("tree:branch=2", c);
    for (int h = 0; h < heads_q; ++h)
      for (int i = 0; i < lq; ++i) {
        const std::vector<float> row = out_row(c, h, i);
        std::set<int> want;
        for (int t = 0; t < prefix; ++t) want.insert(t);
        for (int n : ancestors[i]) want.insert(prefix + n);
        float total = 0;
        for (int t = 0; t < d; ++t) {
          INFO("head " << h << ", node " << i << ", key " << t << ", weight " << row[t]);
          CHECK((row[t] > 0.0f) == (want.count(t) == 1));
          total += row[t];
        }
        CHECK(total == Approx(1.0f).margin(1e-5));
      }
  }
  // Zero queries: equal logits, so node 5 weighs its 3 + 3 visible keys 1/6 each.
  Shape s = tree_shape(1, 1, 1, lq, prefix, d, AB_F32);
  Case c = make_case(s, 8);
  std::vector<float> v(static_cast<size_t>(lk) * d, 0.0f);
  for (int t = 0; t < lk; ++t) v[static_cast<size_t>(t) * d + t] = 1.0f;
  set_inputs(c, std::vector<float>(c.qf.size(), 0.0f), c.kf, v);
  run_output("tree:branch=2", c);
  std::vector<double> want(d, 0.0);
  for (int t : {0, 1, 2, prefix + 0, prefix + 2, prefix + 5}) want[t] = 1.0 / 6;
  expect_row(out_row(c, 0, 5), want);
}

TEST_CASE("tree refuses bad options and shapes", "[cpu][tier2][tree]") {
  Case c = make_case(tree_shape(2, 4, 2, 7, 100, 32, AB_F32), 1);
  const auto refused = [&](const std::string& v, const ab_attention_args& a, const char* word) {
    const cpu::Check r = cpu::supports(v.c_str(), a);
    INFO(v << " -> " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find(word) != std::string::npos);
  };
  refused("tree:branch=0", c.args, "outside");
  refused("tree:branch=65", c.args, "outside");
  refused("tree:branch=abc", c.args, "not an integer");
  refused("tree:chunk=64", c.args, "unknown option");  // the prefix runs on flash: no chunk size
  refused("tree:bogus=1", c.args, "unknown option");
  CHECK(cpu::supports("tree", c.args).ok());
  CHECK(cpu::supports("tree:branch=64", c.args).ok());
  ab_attention_args a = c.args;
  a.causal = 1;
  CHECK(cpu::supports("tree:branch=3", a).ok());

  a = c.args;
  a.len_q = 300; a.len_k = 400;  // any tree size: the prefix runs on flash, the tree part per row
  CHECK(cpu::supports("tree", a).ok());
  a = c.args;
  a.len_k = 6;  // 7 tree nodes need 7 keys
  refused("tree", a, "larger than len_k");
  a = c.args;
  const int32_t lens[2] = {107, 90};
  a.seq_len_k = lens;
  refused("tree", a, "varlen");
  a = c.args;
  a.window_left = 50; a.window_right = 0;
  refused("tree", a, "window");
  a = c.args;
  a.window_right = 0;
  refused("tree", a, "window");
  a = c.args;  // paged KV: refused by the dispatcher before tree is asked
  a.page_size = 16; a.num_pages = 20; a.max_pages_per_seq = 8;
  refused("tree", a, "contiguous");
}
