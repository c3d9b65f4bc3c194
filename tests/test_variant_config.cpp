// The configuration string factory: parse, canonical form, clear errors.
#include <catch2/catch.hpp>

#include "variant_config.h"
#include "variant_registry.h"

using namespace attnbench;

TEST_CASE("configurations print in one canonical form whatever the input order") {
  CHECK(parse_variant_config("flash").canonical() == "flash");
  CHECK(parse_variant_config("flash:causal").canonical() == "flash:causal");
  CHECK(parse_variant_config("flash:window=64:0,causal").canonical() == "flash:causal,window=64:0");
  CHECK(parse_variant_config("flash:softcap=30,causal").canonical() == "flash:causal,softcap=30");
  CHECK(parse_variant_config("naive:window=8").canonical() == "naive:window=8:0");
  const VariantConfig c = parse_variant_config("decode:causal,window=16:4,softcap=2.5");
  CHECK(c.causal);
  CHECK(c.window_left == 16);
  CHECK(c.window_right == 4);
  CHECK(c.softcap == 2.5f);
  CHECK(parse_variant_config(c.canonical()).canonical() == c.canonical());
}

TEST_CASE("bad configurations are refused with the bad part named") {
  CHECK_THROWS_WITH(parse_variant_config("flish"), Catch::Contains("unknown variant 'flish'"));
  CHECK_THROWS_WITH(parse_variant_config("flash:sideways"), Catch::Contains("unknown option 'sideways'"));
  CHECK_THROWS_WITH(parse_variant_config("flash:window=x"), Catch::Contains("not a valid integer"));
  CHECK_THROWS_WITH(parse_variant_config("flash:window=1:2:3"), Catch::Contains("LEFT:RIGHT"));
  CHECK_THROWS_WITH(parse_variant_config("flash:softcap=-1"), Catch::Contains("positive"));
  CHECK_THROWS_WITH(parse_variant_config("flash:softcap=abc"), Catch::Contains("not a number"));
}

TEST_CASE("FLOP and byte models count what the mask leaves visible") {
  Shape s;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.len_q = s.len_k = 10;
  s.head_dim = 8;
  CHECK(visible_pairs(parse_variant_config("flash"), s, nullptr, nullptr) == 4 * 100);
  CHECK(visible_pairs(parse_variant_config("flash:causal"), s, nullptr, nullptr) == 4 * 55);
  // Window of 2 to the left plus the diagonal: rows 0,1 see 1,2 keys, the rest 3.
  CHECK(visible_pairs(parse_variant_config("flash:causal,window=2:0"), s, nullptr, nullptr) == 4 * (1 + 2 + 8 * 3));
  CHECK(model_flops(parse_variant_config("flash"), s, nullptr, nullptr) == 4.0 * 8 * 400);
  // fp32: Q and O for 4 heads, K and V for 2 heads, 10 tokens of 8 values each.
  CHECK(model_bytes(parse_variant_config("flash"), s, nullptr, nullptr) == 4.0 * 8 * (2 * 10 * 4 + 2 * 10 * 2));
  // Decode: 2 queries at the end of a 10-token cache, causal bottom-right: 9 + 10 keys.
  s.len_q = 2;
  CHECK(visible_pairs(parse_variant_config("decode:causal"), s, nullptr, nullptr) == 4 * 19);
  const int lq[] = {1}, lk[] = {5};
  s.batch = 1;
  CHECK(visible_pairs(parse_variant_config("flash:causal"), s, lq, lk) == 4 * 5);
}

TEST_CASE("variant-specific options are declared by the registry and travel in the kernel name") {
  // Mask options never travel in the kernel name: plain flash is the bare variant, whatever the mask.
  CHECK(parse_variant_config("flash:causal,window=8:0").kernel_name() == "flash");
  for (const auto& v : all_variants()) {
    if (v.options.empty()) continue;
    const std::string text = std::string(v.name) + ":" + v.options[0] + "=3";
    const VariantConfig c = parse_variant_config(text);
    CHECK(c.params.at(v.options[0]) == "3");
    CHECK(c.kernel_name() == text);
    CHECK(parse_variant_config(c.canonical()).canonical() == c.canonical());
  }
  CHECK_THROWS_WITH(parse_variant_config("flash:k=3"), Catch::Contains("unknown option 'k=3'"));
}
