// The harness side of head_dim_v (value head dim != key head dim) and of the variants that
// need it: the suite axis and the shape key (",dv=N" only when it differs, so older keys
// stay), validation, inputs and output sized by dv, the oracle and the output check with
// dv, the FLOP and byte models (2 (d + dv) per pair; mla reads its latent cache once;
// diff's two half-width maps), mla's values taken from the keys, and diff's oracle on a
// case computed by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "case_inputs.h"
#include "output_check.h"
#include "reference_attention.h"
#include "suite_file.h"
#include "variant_oracle.h"
#include "variant_registry.h"

using namespace attnbench;

namespace {

Shape small_shape(int d, int dv) {
  Shape s;
  s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = 5; s.len_k = 7; s.head_dim = d; s.head_dim_v = dv;
  return s;
}

}  // namespace

TEST_CASE("head_dim_v: suite axis, shape key and validation") {
  const Suite suite = parse_suite(R"({"suite": "s", "groups": [{"name": "g", "variants": ["decode"],
      "axes": {"len_q": 1, "len_k": 64, "head_dim": 576, "head_dim_v": [0, 576, 512]}}]})", "s.json", false);
  REQUIRE(suite.cases.size() == 3);
  CHECK(suite.cases[0].shape.canonical() == "b=1,hq=1,hkv=1,lq=1,lk=64,d=576,fp32");
  CHECK(suite.cases[1].shape.canonical() == "b=1,hq=1,hkv=1,lq=1,lk=64,d=576,fp32");
  CHECK(suite.cases[2].shape.canonical() == "b=1,hq=1,hkv=1,lq=1,lk=64,d=576,fp32,dv=512");
  CHECK(suite.cases[2].shape.dv() == 512);
  CHECK_THROWS_WITH(parse_suite(R"({"suite": "s", "groups": [{"name": "g", "variants": ["flash"],
      "axes": {"head_dim_v": 1025}}]})", "s.json", false), Catch::Contains("head_dim_v"));
  Shape s = small_shape(64, -1);
  CHECK_THROWS_WITH(s.validate(), Catch::Contains("head_dim_v"));
  s.head_dim_v = 32;
  CHECK_NOTHROW(s.validate());
}

TEST_CASE("head_dim_v: inputs, arguments and the output check use dv") {
  const Shape s = small_shape(16, 24);
  const HostInputs in = make_inputs(s, 3);
  CHECK(in.q.size() == size_t{2 * 4 * 5 * 16});
  CHECK(in.k.size() == size_t{2 * 2 * 7 * 16});
  CHECK(in.v.size() == size_t{2 * 2 * 7 * 24});
  CHECK(output_elements(s) == size_t{2 * 4 * 5 * 24});
  const VariantConfig cfg = parse_variant_config("flash:causal");
  const ab_attention_args a = make_args(cfg, s, in);
  CHECK(a.head_dim_v == 24);
  CHECK(make_args(cfg, small_shape(16, 16), in).head_dim_v == 0);  // what an ABI v1 plugin assumes

  std::vector<double> ref(output_elements(s));
  reference_attention(a, in.q.data(), in.k.data(), in.v.data(), ref.data());
  std::vector<float> out(ref.begin(), ref.end());
  std::vector<uint8_t> bytes(out.size() * 4);
  std::memcpy(bytes.data(), out.data(), bytes.size());
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kFull, 1).rel_error < 1e-6);
  out.back() += 0.5f;  // the last value channel of the last row: only seen with the dv stride
  std::memcpy(bytes.data(), out.data(), bytes.size());
  CHECK(check_output(cfg, s, in, bytes, CheckMode::kFull, 1).rel_error > 1e-3);
}

TEST_CASE("FLOP and byte models with dv, mla and diff") {
  Shape s = small_shape(576, 512);
  s.heads_kv = 1;
  s.len_q = 1;
  const double pairs = visible_pairs(parse_variant_config("mla"), s, nullptr, nullptr);
  CHECK(pairs == 2 * 4 * 7);
  CHECK(model_flops(parse_variant_config("mla"), s, nullptr, nullptr) == 2.0 * (576 + 512) * pairs);
  // decode reads K and V, mla the latent rows once: Q + O plus len_k * d per sequence.
  CHECK(model_bytes(parse_variant_config("decode"), s, nullptr, nullptr) ==
        4.0 * ((576 + 512) * 2 * 4 * 1 + (576 + 512) * 2 * 7));
  CHECK(model_bytes(parse_variant_config("mla"), s, nullptr, nullptr) ==
        4.0 * ((576 + 512) * 2 * 4 * 1 + 576 * 2 * 7));
  const Shape p = small_shape(64, 0);
  const double pp = visible_pairs(parse_variant_config("diff"), p, nullptr, nullptr);
  CHECK(model_flops(parse_variant_config("diff"), p, nullptr, nullptr) == (2.0 * 64 + 4.0 * 64) * pp);
  CHECK(model_flops(parse_variant_config("flash"), p, nullptr, nullptr) == 4.0 * 64 * pp);
}

TEST_CASE("mla cases take their values from the keys") {
  Shape s = small_shape(80, 64);
  s.heads_kv = 1;
  const HostInputs shared = make_inputs(s, 4);
  CHECK(values_from_keys(parse_variant_config("mla:latent=64,rope=16")));
  CHECK_FALSE(values_from_keys(parse_variant_config("decode")));
  const HostInputs own = with_values_from_keys(s, shared);
  REQUIRE(own.v.size() == shared.v.size());
  for (size_t r = 0; r < size_t{2 * 7}; ++r)
    for (size_t c = 0; c < 64; ++c) REQUIRE(own.v[r * 64 + c] == shared.k[r * 80 + c]);
  CHECK(own.q == shared.q);
  CHECK(own.v != shared.v);
}

TEST_CASE("diff's oracle: two maps over the halves of the head dim, minus lambda") {
  // One key: both maps are 1, so O = (1 - lambda) v whatever Q and K hold.
  Shape s = small_shape(4, 2);
  s.batch = 1; s.heads_q = 1; s.heads_kv = 1; s.len_q = 2; s.len_k = 1;
  HostInputs in = make_inputs(s, 1);
  in.v = {3.0f, -1.0f};
  const VariantConfig cfg = parse_variant_config("diff:lambda=0.5");
  CHECK(diff_lambda(cfg) == 0.5);
  CHECK(diff_lambda(parse_variant_config("diff")) == 0.8);
  const std::vector<RowId> rows{{0, 0, 0}, {0, 0, 1}};
  std::vector<double> out(4);
  variant_reference_rows(cfg, make_args(cfg, s, in), in.q.data(), in.k.data(), in.v.data(), rows, out.data());
  CHECK(out == std::vector<double>{1.5, -0.5, 1.5, -0.5});
  // Two keys, the second half of q zero: map 2 is uniform; map 1 from q1.k1 by hand.
  s.len_q = 1; s.len_k = 2; s.head_dim_v = 1;
  in.q = {1.0f, 0.0f, 0.0f, 0.0f};
  in.k = {2.0f, 0.0f, 5.0f, 5.0f, 0.0f, 0.0f, 7.0f, 7.0f};
  in.v = {1.0f, 0.0f};
  ab_attention_args a = make_args(cfg, s, in);
  a.scale = 1.0f;
  std::vector<double> one(1);
  variant_reference_rows(cfg, a, in.q.data(), in.k.data(), in.v.data(), {rows.data(), 1}, one.data());
  const double p0 = std::exp(2.0) / (std::exp(2.0) + 1.0);
  CHECK(one[0] == Approx(p0 - 0.5 * 0.5).epsilon(1e-12));
}

TEST_CASE("flash:bias_rank: ALiBi factors and the oracle's unscaled bias") {
  Shape s = small_shape(6, 4);  // d = 4 plus 2 bias columns
  s.heads_kv = 4;
  const VariantConfig cfg = parse_variant_config("flash:causal,alibi=1,bias_rank=2");
  CHECK(bias_rank(cfg) == 2);
  CHECK(bias_rank(parse_variant_config("flash")) == 0);
  REQUIRE(needs_own_inputs(cfg));
  CHECK_FALSE(needs_own_inputs(parse_variant_config("flash:bias_rank=2")));  // random factors
  const HostInputs in = own_inputs(cfg, s, make_inputs(s, 2));
  // u.w = slope_h (j - p) with p = i + len_k - len_q and slope_h = 2^(-8 (h + 1) / H).
  for (int h = 0; h < 4; ++h)
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 7; ++j) {
        const float* u = &in.q[((size_t{1} * 4 + h) * 5 + i) * 6 + 4];
        const float* w = &in.k[((size_t{1} * 4 + h) * 7 + j) * 6 + 4];
        CHECK(u[0] * w[0] + u[1] * w[1] == Approx(std::exp2(-8.0 * (h + 1) / 4) * (j - (i + 2))).margin(1e-6));
      }
  // The oracle adds u.w to s q[:d].k[:d] unscaled: one query, two keys, by hand.
  Shape t = small_shape(3, 1);
  t.batch = 1; t.heads_q = 1; t.heads_kv = 1; t.len_q = 1; t.len_k = 2;
  HostInputs h = make_inputs(t, 1);
  h.q = {2.0f, 1.0f, 3.0f};                          // q[:1] = 2, u = [1, 3]
  h.k = {1.0f, 0.5f, 0.0f, 0.0f, 0.0f, 1.0f};        // key 0: k = 1, w = [0.5, 0]; key 1: k = 0, w = [0, 1]
  h.v = {1.0f, 0.0f};
  const VariantConfig bias = parse_variant_config("flash:bias_rank=2");
  ab_attention_args a = make_args(bias, t, h);
  a.scale = 0.25f;
  const std::vector<RowId> row{{0, 0, 0}};
  std::vector<double> out(1);
  variant_reference_rows(bias, a, h.q.data(), h.k.data(), h.v.data(), row, out.data());
  const double l0 = 0.25 * 2.0 + 0.5, l1 = 3.0;  // s q.k + u.w
  CHECK(out[0] == Approx(std::exp(l0) / (std::exp(l0) + std::exp(l1))).epsilon(1e-6));
}
