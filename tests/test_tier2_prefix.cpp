// prefix_shared on the CPU: with the first `prefix` keys/values of every sequence equal
// to batch 0's (as the shared_prefix suite axis makes them), it equals exact attention
// (fp64 oracle) for any batch, prefix, lengths, GQA, dtype, softcap and chunk; it reads
// the prefix from batch 0 only; bad options and shapes are refused with a reason.
#include <catch2/catch.hpp>

#include "test_cpu_common.h"

using namespace cpu_test;

namespace {

/// Copies batch 0's first `prefix` K/V rows into every other sequence (stored bytes and
/// the fp32 values the oracle sees).
void share_prefix(Case& c, int prefix) {
  const Shape& s = c.shape;
  const size_t d = s.head_dim, es = dtype_size(s.dtype);
  for (int b = 1; b < s.batch; ++b)
    for (int h = 0; h < s.heads_kv; ++h)
      for (int t = 0; t < prefix; ++t) {
        const size_t src = ((static_cast<size_t>(0) * s.heads_kv + h) * s.len_k + t) * d;
        const size_t dst = ((static_cast<size_t>(b) * s.heads_kv + h) * s.len_k + t) * d;
        std::copy_n(c.kf.begin() + src, d, c.kf.begin() + dst);
        std::copy_n(c.vf.begin() + src, d, c.vf.begin() + dst);
        std::copy_n(c.k.begin() + src * es, d * es, c.k.begin() + dst * es);
        std::copy_n(c.v.begin() + src * es, d * es, c.v.begin() + dst * es);
      }
}

/// Overwrites the stored (not the oracle's) prefix K/V of sequences b >= 1 with garbage.
void poison_copies(Case& c, int prefix) {
  const Shape& s = c.shape;
  const size_t d = s.head_dim, es = dtype_size(s.dtype);
  for (int b = 1; b < s.batch; ++b)
    for (int h = 0; h < s.heads_kv; ++h) {
      const size_t off = ((static_cast<size_t>(b) * s.heads_kv + h) * s.len_k) * d * es;
      std::fill_n(c.k.begin() + off, prefix * d * es, 0x7F);
      std::fill_n(c.v.begin() + off, prefix * d * es, 0x7F);
    }
}

void expect_exact(const std::string& variant, const Shape& s, int prefix, unsigned seed, bool poison = false) {
  Case c = make_case(s, seed);
  share_prefix(c, prefix);
  if (poison) poison_copies(c, prefix);
  const Outcome r = run_and_compare(variant.c_str(), c);
  INFO(variant << ": " << describe(s) << " -> " << r.check.reason);
  REQUIRE(r.check.ok());
  INFO("rel L2 error " << r.rel_l2 << ", max abs " << r.max_abs << ", NaN rows " << r.nan_rows);
  CHECK(r.nan_rows == 0);
  CHECK(r.rel_l2 < tolerance(s.dtype));
}

std::string with_prefix(int prefix, const char* extra = "") {
  return "prefix_shared:prefix=" + std::to_string(prefix) + extra;
}

}  // namespace

TEST_CASE("prefix_shared equals exact attention", "[cpu][tier2][prefix_shared]") {
  struct Sizes {
    int batch, heads_q, heads_kv, len_q, len_k, prefix, d;
  };
  const Sizes sizes[] = {
      {4, 8, 2, 1, 600, 512, 128},   // one prefix chunk + suffix
      {3, 4, 4, 3, 1100, 1030, 64},  // odd prefix spanning chunks, MHA, several queries
      {5, 6, 2, 16, 97, 40, 48},     // head dim not a multiple of 16, 16 queries
      {2, 4, 1, 1, 300, 0, 32},      // prefix 0: plain decode
      {3, 4, 2, 5, 257, 257, 80},    // prefix = len_k: suffix empty
      {1, 2, 1, 2, 33, 17, 16},      // batch 1
      {40, 8, 2, 1, 70, 64, 64},     // many sequences: several phase-1 sequence groups
  };
  unsigned seed = 11;
  for (const Sizes& z : sizes)
    for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
      for (bool causal : {false, true}) {
        Shape s;
        s.batch = z.batch; s.heads_q = z.heads_q; s.heads_kv = z.heads_kv; s.len_q = z.len_q;
        s.len_k = z.len_k; s.head_dim = z.d; s.dtype = t; s.causal = causal;
        expect_exact(with_prefix(z.prefix), s, z.prefix, seed++);
      }
}

TEST_CASE("prefix_shared: chunk sizes, softcap, trivial window, len_q near prefix", "[cpu][tier2][prefix_shared]") {
  Shape s;
  s.batch = 3; s.heads_q = 8; s.heads_kv = 2; s.len_q = 7; s.len_k = 203; s.head_dim = 64; s.causal = true;
  for (const char* chunk : {",chunk=16", ",chunk=50", ",chunk=4096"})
    expect_exact(with_prefix(200, chunk), s, 200, 3);  // causal: some queries see part of the prefix
  s.softcap = 5.0f;
  expect_exact(with_prefix(130), s, 130, 4);
  s.softcap = 0.0f;
  s.window_left = 10000; s.window_right = 0;  // hides nothing
  expect_exact(with_prefix(130), s, 130, 5);
}

TEST_CASE("prefix_shared reads the prefix from batch 0 only", "[cpu][tier2][prefix_shared]") {
  Shape s;
  s.batch = 4; s.heads_q = 8; s.heads_kv = 2; s.len_q = 2; s.len_k = 300; s.head_dim = 64; s.causal = true;
  expect_exact(with_prefix(260), s, 260, 9, /*poison=*/true);
  s.dtype = AB_BF16;
  expect_exact(with_prefix(260), s, 260, 10, /*poison=*/true);
}

TEST_CASE("prefix_shared refuses bad options and shapes", "[cpu][tier2][prefix_shared]") {
  Shape s;
  s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = 1; s.len_k = 100; s.head_dim = 32;
  Case c = make_case(s, 1);
  const auto refused = [&](const std::string& v, const char* word) {
    const cpu::Check r = cpu::supports(v.c_str(), c.args);
    INFO(v << " -> " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find(word) != std::string::npos);
  };
  refused("prefix_shared", "prefix");
  refused("prefix_shared:chunk=64", "required");
  refused("prefix_shared:prefix=101", "larger than len_k");
  refused("prefix_shared:prefix=-1", "outside");
  refused("prefix_shared:prefix=abc", "not an integer");
  refused("prefix_shared:prefix=10,chunk=0", "outside");
  refused("prefix_shared:prefix=10,bogus=1", "unknown option");
  CHECK(cpu::supports("prefix_shared:prefix=100", c.args).ok());
  CHECK(cpu::supports("prefix_shared:prefix=0", c.args).ok());

  ab_attention_args a = c.args;
  a.len_q = 17;
  CHECK(cpu::supports("prefix_shared:prefix=10", a).status == AB_UNSUPPORTED);
  a = c.args;
  const int32_t lens[2] = {100, 90};
  a.seq_len_k = lens;
  CHECK(cpu::supports("prefix_shared:prefix=10", a).reason.find("varlen") != std::string::npos);
  a = c.args;
  a.causal = 1; a.window_left = 8; a.window_right = 0;
  CHECK(cpu::supports("prefix_shared:prefix=10", a).reason.find("window") != std::string::npos);
}
