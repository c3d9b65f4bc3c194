// The decode variant (and reference) against the fp64 oracle: 1..16 queries over
// contiguous and paged KV (several page sizes, shuffled block table), GQA/MQA,
// causal bottom-right alignment, window, softcap, varlen KV lengths, 16-bit
// storage, and KV long enough to be split across threads and merged.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "test_cpu_checks.h"

using namespace cpu_test;

TEST_CASE("decode: contiguous KV, queries 1..16, GQA groups, odd lengths", "[cpu][decode]") {
  unsigned seed = 1;
  for (int lq : {1, 4, 16})
    for (int lk : {1, 17, 100, 257, 3000})
      for (auto [hq, hkv] : {std::pair{4, 4}, {8, 2}, {8, 1}})
        for (bool causal : {false, true}) {
          Shape s;
          s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = lk;
          s.head_dim = lk == 3000 ? 128 : 64; s.causal = causal;
          expect_matches_oracle("decode", s, seed++);
        }
}

TEST_CASE("decode: head dims and 16-bit storage", "[cpu][decode]") {
  unsigned seed = 100;
  for (int d : {64, 80, 128})
    for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
      Shape s;
      s.batch = 2; s.heads_q = 8; s.heads_kv = 2; s.len_q = 3; s.len_k = 1100; s.head_dim = d;
      s.dtype = t; s.causal = true;
      expect_matches_oracle("decode", s, seed++);
    }
}

TEST_CASE("decode: paged KV with several page sizes and a shuffled block table", "[cpu][decode]") {
  unsigned seed = 200;
  for (int ps : {16, 48, 64, 256})
    for (ab_dtype t : {AB_F32, AB_BF16}) {
      Shape s;
      s.batch = 3; s.heads_q = 8; s.heads_kv = 2; s.len_q = 2; s.len_k = 1500; s.head_dim = 128;
      s.dtype = t; s.causal = true; s.page_size = ps;
      s.seq_len_k = {1500, 700, 33};  // partial last pages, shorter sequences
      expect_matches_oracle("decode", s, seed++);
      expect_matches_oracle("reference", s, seed++);
    }
}

TEST_CASE("decode: window, softcap, varlen and empty KV", "[cpu][decode]") {
  unsigned seed = 300;
  Shape s;
  s.batch = 3; s.heads_q = 4; s.heads_kv = 1; s.len_q = 5; s.len_k = 2100; s.head_dim = 64;
  s.causal = true; s.window_left = 300; s.window_right = 0;
  expect_matches_oracle("decode", s, seed++);
  s.window_left = -1; s.softcap = 20.0f;
  expect_matches_oracle("decode", s, seed++);
  s.softcap = 0.0f;
  s.seq_len_q = {5, 1, 0};
  s.seq_len_k = {2100, 0, 900};  // batch 1: no keys -> zero rows
  expect_matches_oracle("decode", s, seed++);
  s.seq_len_q.clear(); s.seq_len_k.clear();
  s.len_k = 0;
  expect_matches_oracle("decode", s, seed++);
  s.len_k = 10; s.len_q = 16; s.causal = true;  // more queries than keys: early rows see none
  expect_matches_oracle("decode", s, seed++);
  s.len_q = 0;
  expect_matches_oracle("decode", s, seed++);
}

TEST_CASE("decode capability: refuses prefill and says why", "[cpu][decode]") {
  Shape s;
  s.len_q = 17; s.len_k = 100;
  Case c = make_case(s, 1);
  const cpu::Check chk = cpu::supports("decode", c.args);
  CHECK(chk.status == AB_UNSUPPORTED);
  CHECK_THAT(chk.reason, Catch::Contains("len_q <= 16"));
  CHECK(cpu::supports("flash", c.args).ok());
}

TEST_CASE("capabilities: paged only for decode, invalid shapes rejected", "[cpu][decode]") {
  Shape s;
  s.len_q = 1; s.len_k = 100; s.page_size = 16;
  Case c = make_case(s, 2);
  CHECK(cpu::supports("decode", c.args).ok());
  const cpu::Check flash = cpu::supports("flash", c.args);
  CHECK(flash.status == AB_UNSUPPORTED);
  CHECK_THAT(flash.reason, Catch::Contains("paged"));

  ab_attention_args bad = c.args;
  bad.heads_q = 6; bad.heads_kv = 4;
  CHECK(cpu::supports("flash", bad).status == AB_INVALID_ARGUMENT);
  CHECK_THAT(cpu::supports("flash", bad).reason, Catch::Contains("heads_q % heads_kv"));
  bad = c.args; bad.head_dim = 0;
  CHECK(cpu::supports("decode", bad).status == AB_INVALID_ARGUMENT);
  bad = c.args; bad.head_dim = 1025;  // tier 1 takes up to 1024 (MLA keys are 576 wide)
  CHECK_THAT(cpu::supports("decode", bad).reason, Catch::Contains("head_dim"));
  bad = c.args; bad.len_k = -1;
  CHECK(cpu::supports("decode", bad).status == AB_INVALID_ARGUMENT);
  int32_t too_long[1] = {101};
  bad = c.args; bad.seq_len_k = too_long;
  CHECK(cpu::supports("decode", bad).status == AB_INVALID_ARGUMENT);
  CHECK_THAT(cpu::supports("decode", bad).reason, Catch::Contains("seq_len_k[0]=101"));
  // supports() is a capability query asked before allocation: it accepts NULL buffers
  // and leaves the block table's contents to run time.
  bad = c.args; bad.q = bad.k = bad.v = bad.o = bad.block_table = nullptr;
  CHECK(cpu::supports("decode", bad).ok());
  CHECK(cpu::run_variant("decode", bad).status == AB_INVALID_ARGUMENT);
  c.table[0] = 999;  // a page outside the pool
  CHECK(cpu::supports("decode", c.args).ok());
  CHECK(cpu::run_variant("decode", c.args).status == AB_INVALID_ARGUMENT);
  CHECK_THAT(cpu::run_variant("decode", c.args).reason, Catch::Contains("outside [0, num_pages"));
  CHECK(cpu::supports("nope", c.args).status == AB_UNSUPPORTED);
}

TEST_CASE("decode and flash: a NaN in one key makes exactly the rows that see it NaN", "[cpu][decode]") {
  // The softmax's exp2 used to clamp NaN scores to exp2(-150) = 0, so a NaN key gave a
  // finite row that hid the bad input (the fp64 oracle gives NaN).
  for (const char* variant : {"decode", "flash"}) {
    Shape s;
    s.batch = 1; s.heads_q = 4; s.heads_kv = 2; s.len_q = 3; s.len_k = 300; s.head_dim = 64;
    s.causal = false;
    Case c = make_case(s, 77);
    std::vector<float> k = c.kf;
    const int bad_key = 123;  // KV head 1 only: query heads 2 and 3 see it
    k[(static_cast<size_t>(1) * s.len_k + bad_key) * s.head_dim + 5] = std::numeric_limits<float>::quiet_NaN();
    set_inputs(c, c.qf, k, c.vf);
    std::fill(c.o.begin(), c.o.end(), 0);
    INFO(variant);
    REQUIRE(cpu::run_variant(variant, c.args).ok());
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.len_q; ++i) {
        const std::vector<float> row = out_row(c, h, i);
        const bool any_nan = std::any_of(row.begin(), row.end(), [](float x) { return std::isnan(x); });
        INFO("head " << h << " row " << i);
        CHECK(any_nan == (h >= 2));
      }
  }
}
