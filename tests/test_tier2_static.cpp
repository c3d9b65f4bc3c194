// Tier-2 static sparse patterns (sliding_window / neighborhood, power, strided_heads):
// the selection on hand-checked small inputs, exactness against the fp64 oracle where
// the pattern covers the mask, and capability refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "sparse_static_patterns.h"
#include "test_cpu_common.h"

using namespace attnbench;
using namespace attnbench::cpu;
using cpu_test::make_case;
using cpu_test::run_and_compare;

namespace {

/// Selection of one row with the given pattern and mask.
std::vector<int> keys(const char* base, const VariantOptions& o, MaskHook mask, int row, int len, int head = 0,
                      int heads = 1) {
  StaticPattern p;
  REQUIRE(parse_static_pattern(base, o, p).ok());
  std::vector<int> out;
  select_keys(p, mask, head, heads, row, len, len, out);
  return out;
}

using V = std::vector<int>;

}  // namespace

TEST_CASE("neighborhood selection on L=16", "[tier2][static]") {
  // Non-causal window 2:2 around row 7.
  CHECK(keys("neighborhood", {}, {0, 2, 2}, 7, 16) == V{5, 6, 7, 8, 9});
  // Clipped at the edges.
  CHECK(keys("neighborhood", {}, {0, 2, 2}, 0, 16) == V{0, 1, 2});
  CHECK(keys("neighborhood", {}, {0, 2, 2}, 15, 16) == V{13, 14, 15});
  // Causal window 3 to the left.
  CHECK(keys("sliding_window", {}, {1, 3, 0}, 7, 16) == V{4, 5, 6, 7});
  // Dilation 2: every second key, window counted in dilated steps.
  CHECK(keys("neighborhood", {{"dilation", "2"}}, {0, 2, 2}, 7, 16) == V{3, 5, 7, 9, 11});
  CHECK(keys("neighborhood", {{"dilation", "3"}}, {1, -1, -1}, 10, 16) == V{1, 4, 7, 10});
  // Stride 4 (non-causal): rows 4..7 share centre 5.
  for (int r = 4; r < 8; ++r) CHECK(keys("neighborhood", {{"stride", "4"}}, {0, 1, 1}, r, 16) == V{4, 5, 6});
  // Stride 4 causal: rows 4..7 share the anchor 4.
  for (int r = 4; r < 8; ++r) CHECK(keys("neighborhood", {{"stride", "4"}}, {1, 2, 0}, r, 16) == V{2, 3, 4});
  // Blocked (block 4): window [5, 9] snaps to blocks [4, 11].
  CHECK(keys("neighborhood", {{"blocked", "1"}, {"block", "4"}}, {0, 2, 2}, 7, 16) == V{4, 5, 6, 7, 8, 9, 10, 11});
  // Blocked causal: snapped left, still clipped at the query.
  CHECK(keys("neighborhood", {{"blocked", "1"}, {"block", "4"}}, {1, 2, 0}, 9, 16) == V{4, 5, 6, 7, 8, 9});
  // No window: full (non-causal) / causal prefix.
  CHECK(keys("sliding_window", {}, {0, -1, -1}, 3, 8) == V{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(keys("sliding_window", {}, {1, -1, -1}, 3, 8) == V{0, 1, 2, 3});
}

TEST_CASE("power selection on L=16", "[tier2][static]") {
  const MaskHook causal{1, -1, -1};
  // block 2, local 1, row 13: local {12, 13}, own block 6 {12, 13}, blocks 5, 4, 2 back.
  CHECK(keys("power", {{"block", "2"}, {"local", "1"}}, causal, 13, 16) == V{4, 5, 8, 9, 10, 11, 12, 13});
  // Row 0 sees only itself.
  CHECK(keys("power", {{"block", "2"}, {"local", "1"}}, causal, 0, 16) == V{0});
  // block 4, local 0, row 15: own block {12..15}, blocks 1 and 2 back ({8..11}, {4..7}).
  CHECK(keys("power", {{"block", "4"}, {"local", "0"}}, causal, 15, 16) ==
        V{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  // A large local window is the causal prefix.
  CHECK(keys("power", {{"local", "64"}}, causal, 9, 16) == V{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("strided_heads selection on L=16", "[tier2][static]") {
  const MaskHook causal{1, -1, -1}, none{0, -1, -1};
  // H=4, head 1, local 2, causal row 11: shard {1, 5, 9} plus {9, 10, 11}.
  CHECK(keys("strided_heads", {{"local", "2"}}, causal, 11, 16, 1, 4) == V{1, 5, 9, 10, 11});
  // Non-causal: shard over the whole sequence plus both sides.
  CHECK(keys("strided_heads", {{"local", "1"}}, none, 6, 16, 3, 4) == V{3, 5, 6, 7, 11, 15});
  // Heads together cover the causal prefix (local 0).
  std::vector<int> seen(16, 0);
  for (int h = 0; h < 4; ++h)
    for (int k : keys("strided_heads", {{"local", "0"}}, causal, 15, 16, h, 4)) ++seen[k];
  for (int k = 0; k < 15; ++k) CHECK(seen[k] == 1);
  CHECK(seen[15] == 4);  // the query's own key is in every head's local window
}

TEST_CASE("density and predicted speedup", "[tier2][static]") {
  StaticPattern p;
  REQUIRE(parse_static_pattern("sliding_window", {}, p).ok());
  const MaskHook full{0, -1, -1}, win{0, 1, 1};
  CHECK(selection_density(p, full, 2, 16, 16) == Approx(1.0));
  // Window 1:1 over 16 keys: 16*3 - 2 pairs of 256.
  CHECK(selection_density(p, win, 2, 16, 16) == Approx(46.0 / 256.0));
  CHECK(predicted_speedup(p, win, 2, 16, 16) == Approx(256.0 / 46.0));
  REQUIRE(parse_static_pattern("power", {{"block", "64"}, {"local", "64"}}, p).ok());
  CHECK(predicted_speedup(p, {1, -1, -1}, 1, 8192, 8192) > 5.0);
}

TEST_CASE("static patterns match the oracle where they cover the mask", "[tier2][static]") {
  struct Item { const char* variant; bool causal; int wl, wr; ab_dtype dtype; int hq, hkv; };
  const Item items[] = {
      {"sliding_window", true, 500, 0, AB_F32, 4, 2},
      {"sliding_window", false, -1, -1, AB_F32, 2, 1},
      {"sliding_window", true, 37, 0, AB_F32, 2, 2},     // exact sliding-window attention
      {"neighborhood", false, 20, 9, AB_F32, 2, 2},
      {"neighborhood:dilation=1,stride=1", true, -1, -1, AB_BF16, 4, 1},
      {"power:local=400,block=32", true, -1, -1, AB_F32, 4, 2},
      {"power:local=400", true, -1, -1, AB_F16, 2, 1},
      {"strided_heads:local=400", true, -1, -1, AB_F32, 4, 2},
      {"strided_heads:local=400", false, -1, -1, AB_F32, 3, 1},
  };
  for (const Item& it : items) {
    for (int lq : {200, 77}) {
      cpu_test::Shape s;
      s.batch = 2; s.heads_q = it.hq; s.heads_kv = it.hkv; s.len_q = lq; s.len_k = 200; s.head_dim = 64;
      s.dtype = it.dtype; s.causal = it.causal; s.window_left = it.wl; s.window_right = it.wr;
      auto c = make_case(s, 7);
      INFO(it.variant << " " << cpu_test::describe(s));
      const auto out = run_and_compare(it.variant, c);
      REQUIRE(out.check.ok());
      CHECK(out.nan_rows == 0);
      CHECK(out.rel_l2 < cpu_test::tolerance(it.dtype));
    }
  }
}

TEST_CASE("static patterns: varlen, softcap, head_dim not a multiple of 16", "[tier2][static]") {
  cpu_test::Shape s;
  s.batch = 3; s.heads_q = 4; s.heads_kv = 2; s.len_q = 90; s.len_k = 90; s.head_dim = 40;
  s.causal = true; s.softcap = 5.0f; s.seq_len_q = {90, 33, 0}; s.seq_len_k = {90, 33, 0};
  auto c = make_case(s, 3);
  const auto out = run_and_compare("power:local=100,block=16", c);
  REQUIRE(out.check.ok());
  CHECK(out.nan_rows == 0);
  CHECK(out.rel_l2 < 1e-5);
}

TEST_CASE("sparse static patterns are approximations when they drop keys", "[tier2][static]") {
  cpu_test::Shape s;
  s.heads_q = 4; s.len_q = 256; s.len_k = 256; s.causal = true;
  for (const char* v : {"power:local=16,block=16", "strided_heads:local=16", "neighborhood:dilation=2"}) {
    auto c = make_case(s, 11);
    INFO(v);
    const auto out = run_and_compare(v, c);
    REQUIRE(out.check.ok());
    CHECK(out.nan_rows == 0);
    CHECK(out.rel_l2 > 1e-3);  // differs from dense causal attention
    CHECK(out.rel_l2 < 2.0);
  }
}

TEST_CASE("static pattern kernels equal exact attention over select_keys", "[tier2][static]") {
  // fp64 softmax over exactly the keys select_keys lists (the definition of the output).
  const char* variants[] = {"neighborhood:dilation=3", "neighborhood:stride=4", "neighborhood:dilation=2,stride=3",
                            "neighborhood:blocked=1,block=16", "power:local=8,block=8", "strided_heads:local=5",
                            "sliding_window:dilation=5,stride=2"};
  for (const char* v : variants)
    for (bool causal : {true, false}) {
      if (!causal && std::string(v).rfind("power", 0) == 0) continue;
      for (int lq : {150, 61, 170}) {  // 170 > len_k: centres clamped at key 0
        cpu_test::Shape s;
        s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = 150; s.head_dim = 48;
        s.causal = causal; s.window_left = 9; s.window_right = causal ? 0 : 6;
        if (std::string(v).rfind("neighborhood", 0) != 0 && std::string(v).rfind("sliding", 0) != 0)
          s.window_left = s.window_right = -1;
        auto c = make_case(s, 5);
        INFO(v << " " << cpu_test::describe(s));
        std::fill(c.o.begin(), c.o.end(), 0xFF);
        REQUIRE(run_variant(v, c.args).ok());
        StaticPattern p;
        REQUIRE(parse_static_pattern(variant_base(v), variant_options(v), p).ok());
        const MaskHook mask{c.args.causal, c.args.window_left, c.args.window_right};
        const int d = s.head_dim;
        const float* o = reinterpret_cast<const float*>(c.o.data());
        double err2 = 0, ref2 = 0;
        size_t nan = 0;
        std::vector<int> keys;
        for (int b = 0; b < s.batch; ++b)
          for (int h = 0; h < s.heads_q; ++h)
            for (int i = 0; i < lq; ++i) {
              select_keys(p, mask, h, s.heads_q, i, lq, s.len_k, keys);
              const int hk = kv_head_of(h, s.heads_q, s.heads_kv);
              const float* q = &c.qf[((static_cast<size_t>(b) * s.heads_q + h) * lq + i) * d];
              std::vector<double> w(keys.size()), out(d, 0.0);
              double mx = -1e300, sum = 0;
              for (size_t t = 0; t < keys.size(); ++t) {
                const float* k = &c.kf[((static_cast<size_t>(b) * s.heads_kv + hk) * s.len_k + keys[t]) * d];
                double dot = 0;
                for (int x = 0; x < d; ++x) dot += static_cast<double>(q[x]) * k[x];
                w[t] = dot * c.args.scale;
                mx = std::max(mx, w[t]);
              }
              for (double& x : w) sum += (x = std::exp(x - mx));
              for (size_t t = 0; t < keys.size(); ++t) {
                const float* vv = &c.vf[((static_cast<size_t>(b) * s.heads_kv + hk) * s.len_k + keys[t]) * d];
                for (int x = 0; x < d; ++x) out[x] += w[t] / sum * vv[x];
              }
              const float* got = o + ((static_cast<size_t>(b) * s.heads_q + h) * lq + i) * d;
              for (int x = 0; x < d; ++x) {
                nan += std::isnan(got[x]) ? 1 : 0;
                err2 += (got[x] - out[x]) * (got[x] - out[x]);
                ref2 += out[x] * out[x];
              }
            }
        CHECK(nan == 0);
        CHECK(std::sqrt(err2 / ref2) < 1e-5);
      }
    }
}

TEST_CASE("static patterns refuse bad options with a reason", "[tier2][static]") {
  cpu_test::Shape s;
  s.len_q = 16; s.len_k = 16; s.causal = true;
  auto c = make_case(s, 1);
  struct Bad { const char* variant; ab_status status; const char* words; };
  const Bad bad[] = {
      {"neighborhood:dilation=0", AB_INVALID_ARGUMENT, "dilation"},
      {"neighborhood:stride=x", AB_INVALID_ARGUMENT, "stride"},
      {"sliding_window:blocked=2", AB_INVALID_ARGUMENT, "blocked"},
      {"sliding_window:blocked=1,dilation=2", AB_UNSUPPORTED, "dilation=1"},
      {"sliding_window:bogus=1", AB_INVALID_ARGUMENT, "unknown option 'bogus'"},
      {"power:local=-1", AB_INVALID_ARGUMENT, "local"},
      {"power:block=0", AB_INVALID_ARGUMENT, "block"},
      {"power:k=3", AB_INVALID_ARGUMENT, "unknown option"},
      {"strided_heads:dilation=2", AB_INVALID_ARGUMENT, "unknown option 'dilation'"},
  };
  for (const Bad& b : bad) {
    INFO(b.variant);
    const Check chk = supports(b.variant, c.args);
    CHECK(chk.status == b.status);
    CHECK_THAT(chk.reason, Catch::Contains(b.words));
    CHECK(run_variant(b.variant, c.args).status == b.status);
  }
  c.args.causal = 0;
  const Check nc = supports("power", c.args);
  CHECK(nc.status == AB_UNSUPPORTED);
  CHECK_THAT(nc.reason, Catch::Contains("causal"));
}

TEST_CASE("select_block lists each row's keys as few ranges of packed positions", "[tier2][static]") {
  // The packed form must name exactly the keys select_keys lists, row by row, and turn a
  // dilated or head-sharded row into a few ranges (the reason it exists).
  struct Pattern { const char* v; int step; };
  const Pattern patterns[] = {{"neighborhood:dilation=3", 3}, {"neighborhood:dilation=2", 2},
                              {"sliding_window:dilation=4", 4}, {"neighborhood:stride=4", 1},
                              {"neighborhood:blocked=1,block=16", 1}, {"power:local=8,block=8", 1},
                              {"strided_heads:local=5", 1}, {"strided_heads:local=0", 1},
                              {"neighborhood:dilation=2,stride=3", 1}};
  int packed_blocks = 0, fallback_blocks = 0;
  for (const Pattern& pat : patterns)
    for (MaskHook mask : {MaskHook{1, 9, 0}, MaskHook{0, 9, 6}, MaskHook{1, -1, -1}, MaskHook{0, -1, -1}})
      for (auto [lq, lk] : {std::pair{300, 300}, std::pair{61, 300}}) {
        const std::string v = pat.v;
        if (!mask.causal && v.rfind("power", 0) == 0) continue;
        StaticPattern p;
        REQUIRE(parse_static_pattern(variant_base(pat.v), variant_options(pat.v), p).ok());
        const bool stepped = p.dilation > 1 || p.kind == StaticPattern::Kind::kStridedHeads;
        if (p.kind != StaticPattern::Kind::kNeighborhood) mask.window_left = mask.window_right = -1;
        for (int head : {0, 3})
          for (int i0 = 0; i0 < lq; i0 += 7) {
            const int rows = std::min(32, (lq - i0 + pat.step - 1) / pat.step);
            std::vector<int> key_of;
            std::vector<KeyRange> ranges[32];
            INFO(v << " causal " << mask.causal << " window " << mask.window_left << " lq " << lq << " head " << head
                   << " i0 " << i0);
            if (!select_block(p, mask, head, 8, i0, pat.step, rows, lq, lk, key_of, ranges)) {
              CHECK(v == "neighborhood:dilation=2,stride=3");  // rows on different lattices
              ++fallback_blocks;
              continue;
            }
            ++packed_blocks;
            CHECK(std::is_sorted(key_of.begin(), key_of.end()));
            CHECK(std::adjacent_find(key_of.begin(), key_of.end()) == key_of.end());
            for (int r = 0; r < rows; ++r) {
              std::vector<int> want, got;
              select_keys(p, mask, head, 8, i0 + r * pat.step, lq, lk, want);
              int prev_hi = -1;
              for (const KeyRange& k : ranges[r]) {
                CHECK(k.lo > prev_hi);  // disjoint, ascending, not touching
                prev_hi = k.hi;
                for (int t = k.lo; t < k.hi; ++t) got.push_back(key_of[t]);
              }
              CHECK(got == want);
              // A dilated row is one range; a sharded row at most a few besides its window.
              if (stepped) CHECK(ranges[r].size() <= (p.dilation > 1 ? 1u : 10u));
            }
          }
      }
  CHECK(packed_blocks > 1000);
  CHECK(fallback_blocks > 0);
}
