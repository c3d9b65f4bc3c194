// Value head dim != key head dim (ABI v2 head_dim_v) on the CPU backend: reference,
// naive, flash and decode against the fp64 oracle with dv below, above and beside d
// (multiples of 16 and not), causal masks, GQA, 16-bit storage and paged KV for decode;
// head_dim_v = 0 and head_dim_v = head_dim mean the same; an out-of-range dv is invalid.
#include <catch2/catch.hpp>

#include "test_cpu_checks.h"

using namespace cpu_test;

namespace {

Shape dv_shape(int lq, int lk, int d, int dv, ab_dtype t, bool causal) {
  Shape s;
  s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk;
  s.head_dim = d; s.head_dim_v = dv; s.dtype = t; s.causal = causal;
  return s;
}

}  // namespace

TEST_CASE("head_dim_v: prefill variants with dv != d against the oracle", "[cpu][value_dim]") {
  unsigned seed = 1;
  for (auto [d, dv] : {std::pair{64, 32}, {32, 64}, {48, 80}, {40, 24}, {96, 128}})
    for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
      for (bool causal : {false, true})
        for (const char* v : {"reference", "naive", "flash"}) {
          expect_matches_oracle(v, dv_shape(70, 300, d, dv, t, causal), seed++);
        }
}

TEST_CASE("head_dim_v: decode with dv != d, contiguous and paged", "[cpu][value_dim]") {
  unsigned seed = 500;
  for (auto [d, dv] : {std::pair{64, 32}, {32, 64}, {48, 80}, {576, 512}, {40, 24}})
    for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
      Shape s = dv_shape(3, 1300, d, dv, t, true);
      expect_matches_oracle("decode", s, seed++);
      s.page_size = 64;
      s.seq_len_k = {1300, 77};
      expect_matches_oracle("decode", s, seed++);
      expect_matches_oracle("reference", s, seed++);
    }
}

TEST_CASE("head_dim_v: 0 and head_dim are the same case; out of range is invalid", "[cpu][value_dim]") {
  Case zero = make_case(dv_shape(5, 40, 64, 0, AB_F32, false), 9);
  Case same = make_case(dv_shape(5, 40, 64, 64, AB_F32, false), 9);
  for (const char* v : {"flash", "decode"}) {
    REQUIRE(cpu::run_variant(v, zero.args).ok());
    REQUIRE(cpu::run_variant(v, same.args).ok());
    CHECK(zero.o == same.o);
  }
  Case bad = make_case(dv_shape(5, 40, 64, 0, AB_F32, false), 9);
  bad.args.head_dim_v = -1;
  CHECK(cpu::supports("flash", bad.args).status == AB_INVALID_ARGUMENT);
  bad.args.head_dim_v = 1025;
  const cpu::Check c = cpu::supports("decode", bad.args);
  CHECK(c.status == AB_INVALID_ARGUMENT);
  CHECK_THAT(c.reason, Catch::Contains("head_dim_v"));
}
