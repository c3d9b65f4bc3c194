// Storage conversions and the counter-based input generator.
#include <catch2/catch.hpp>

#include <cmath>

#include "attnbench/dtype.h"
#include "case_inputs.h"
#include "counter_rng.h"
#include "output_check.h"
#include "reference_attention.h"

using namespace attnbench;

TEST_CASE("fp16 and bf16 round-trip every finite 16-bit value exactly") {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f16 = f16_to_f32(bits);
    if (std::isfinite(f16)) REQUIRE(f32_to_f16(f16) == bits);
    const float bf = bf16_to_f32(bits);
    if (std::isfinite(bf)) REQUIRE(f32_to_bf16(bf) == bits);
  }
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(f32_to_f16(70000.0f) == 0x7c00);               // overflow to inf
  CHECK(bf16_to_f32(f32_to_bf16(1.00390625f)) == 1.0f);  // tie rounds to even
  CHECK(std::isnan(f16_to_f32(0xffff)));
  CHECK(std::isnan(bf16_to_f32(0xffff)));
}

TEST_CASE("inputs are a pure function of seed and shape") {
  Shape s;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.len_q = s.len_k = 33;
  const HostInputs a = make_inputs(s, 1), b = make_inputs(s, 1), c = make_inputs(s, 2);
  CHECK(a.q == b.q);
  CHECK(a.k == b.k);
  CHECK(a.q != c.q);
  // Element i does not depend on how many elements are generated around it.
  const gen::StreamKey key{5, 6, 7};
  CHECK(key.normal(1000) == gen::StreamKey{5, 6, 7}.normal(1000));
  double mean = 0, var = 0;
  for (int i = 0; i < 20000; ++i) mean += key.normal(i);
  mean /= 20000;
  for (int i = 0; i < 20000; ++i) var += (key.normal(i) - mean) * (key.normal(i) - mean);
  CHECK(std::abs(mean) < 0.03);
  CHECK(var / 20000 == Approx(1.0).epsilon(0.05));
}

TEST_CASE("paged layouts use a shuffled block table covering every page once") {
  Shape s;
  s.batch = 3;
  s.len_q = 1;
  s.len_k = 100;
  s.page_size = 16;
  const HostInputs in = make_inputs(s, 3);
  CHECK(in.max_pages_per_seq == 7);
  std::vector<int> seen(in.num_pages, 0);
  for (int p : in.block_table) ++seen.at(p);
  for (int n : seen) CHECK(n == 1);
  bool shuffled = false;
  for (int i = 0; i < in.num_pages; ++i) shuffled |= in.block_table[i] != i;
  CHECK(shuffled);
}

TEST_CASE("the output check catches unwritten elements and wrong values") {
  Shape s;
  s.heads_q = 2;
  s.len_q = s.len_k = 9;
  s.head_dim = 8;
  const VariantConfig cfg = parse_variant_config("flash:causal");
  const HostInputs in = make_inputs(s, 1);
  std::vector<double> ref(in.q.size());
  reference_attention(make_args(cfg, s, in), in.q.data(), in.k.data(), in.v.data(), ref.data());
  std::vector<float> out(ref.begin(), ref.end());
  std::vector<uint8_t> bytes(out.size() * 4);
  std::memcpy(bytes.data(), out.data(), bytes.size());
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kFull, 1).rel_error < 1e-6);
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kFull, 1).nonfinite == 0);
  out[5] += 0.5f;
  std::memcpy(bytes.data(), out.data(), bytes.size());
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kFull, 1).rel_error > 1e-3);
  std::memset(bytes.data() + 40, 0xFF, 4);
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kNone, 1).nonfinite == 1);
}

TEST_CASE("shared prefixes repeat sequence 0's first keys and values in every sequence") {
  Shape s;
  s.batch = 3;
  s.heads_kv = 2;
  s.heads_q = 2;
  s.len_q = 1;
  s.len_k = 10;
  s.head_dim = 4;
  s.shared_prefix = 6;
  const HostInputs in = make_inputs(s, 1);
  auto at = [&](const std::vector<float>& t, int b, int h, int tok) {
    return t[((static_cast<size_t>(b) * s.heads_kv + h) * s.len_k + tok) * s.head_dim];
  };
  for (int b = 1; b < 3; ++b)
    for (int h = 0; h < 2; ++h) {
      for (int tok = 0; tok < 6; ++tok) {
        CHECK(at(in.k, b, h, tok) == at(in.k, 0, h, tok));
        CHECK(at(in.v, b, h, tok) == at(in.v, 0, h, tok));
      }
      CHECK(at(in.k, b, h, 6) != at(in.k, 0, h, 6));  // the suffix stays per sequence
    }
  s.shared_prefix = 11;
  CHECK_THROWS_WITH(s.validate(), Catch::Contains("shared_prefix"));
}
