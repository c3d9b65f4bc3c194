// KV-cache methods against what the literature reports, on structured recall cases, run
// as the worker runs them: policies over the CPU plugin's KV primitives, the plan
// executor building and decoding the cache on the backend, scored by the fp64 oracle.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "kv_config.h"
#include "kv_plan_executor.h"
#include "kv_policy.h"
#include "recall_tasks.h"
#include "test_kv_backend.h"

using namespace attnbench;
using namespace attnbench::kv;
using namespace attnbench::recall;
using kvtest::cpu;
using kvtest::run_case;
using kvtest::run_recall_case;

namespace {

RecallCase needle_case(uint64_t seed, double depth, int L = 1024, bool ctx_needle = false) {
  RecallKnobs k;
  k.seed = seed;
  k.context_attends_needle = ctx_needle;
  TaskParams p;
  p.len_k = L, p.depth = depth;
  return make_task(p, k);
}

// Mean accuracy of a method over seeds x depths (single needle, 1024 tokens).
double rate(const std::string& cfg, bool ctx_needle = false, int seeds = 6) {
  double acc = 0;
  int n = 0;
  for (int s = 0; s < seeds; ++s)
    for (double dep : {0.1, 0.35, 0.6, 0.85}) {
      const auto r = run_recall_case(needle_case(100 + s, dep, 1024, ctx_needle), cfg);
      REQUIRE(r.ok);
      acc += r.accuracy, ++n;
    }
  return acc / n;
}

/// A policy that claims one config's budget and plans with another (or edits the plan).
struct Liar : KvPolicy {
  Liar(const std::string& claimed, const std::string& actual, std::function<void(ab_kv_plan&)> edit = {})
      : claim(make_kv_policy(claimed)), act(make_kv_policy(actual)), edit(std::move(edit)) {}
  std::string name() const override { return claim->name(); }
  std::string config() const override { return claim->config(); }
  bool needs_queries() const override { return act->needs_queries(); }
  uint64_t requested_bytes(const ab_kv_layer& l, int32_t e) const override { return claim->requested_bytes(l, e); }
  void compress(const ab_kv_env& env, const ab_kv_layer& l, int32_t e, ab_kv_plan& plan) const override {
    act->compress(env, l, e, plan);
    if (edit) edit(plan);
  }
  std::unique_ptr<KvPolicy> claim, act;
  std::function<void(ab_kv_plan&)> edit;
};

KvCaseRun run_policy(const RecallCase& c, const KvPolicy& p) {
  KvPrimitives prims(cpu().env);
  DeviceLayer dev = upload_layer(prims, c, true);
  return run_kv_case(cpu().env, c, p, dev);
}

}  // namespace

TEST_CASE("config strings parse and print canonically", "[kv]") {
  CHECK(make_kv_policy("snapkv:budget=256,window=32,pool=7")->config() == "snapkv:budget=256,window=32,pool=7,elem_bytes=2");
  CHECK(make_kv_policy("h2o:budget=128")->config() == "h2o:budget=128,recent=64,online=1,elem_bytes=2");
  CHECK(make_kv_policy("a2sf:budget=64,lambda=0.9")->config() == "a2sf:budget=64,recent=32,lambda=0.9,online=1,elem_bytes=2");
  CHECK(make_kv_policy("kivi:bits=4")->config() == "kivi:bits=4,group=32,residual=128,elem_bytes=2");
  CHECK(make_kv_policy("retrieval_offload")->config() ==
        "retrieval_offload:budget=256,sink=4,recent=32,window=32,lists=64,nprobe=4,iters=8,seed=1234,elem_bytes=2");
  CHECK_THROWS_AS(make_kv_policy("nope:budget=1"), std::invalid_argument);
  CHECK_THROWS_AS(make_kv_policy("snapkv:budget"), std::invalid_argument);
  CHECK_THROWS_AS(make_kv_policy("snapkv:budget=abc"), std::invalid_argument);
}

TEST_CASE("the registry lists the 19 built-ins and refuses a second method of one name", "[kv]") {
  const auto methods = kv_methods();
  REQUIRE(methods.size() >= 19);
  CHECK(methods[0].name == "full");
  CHECK(methods[16].name == "spatten");
  CHECK(methods[17].name == "cla");  // the cross-layer methods (test_kv_cross_layer)
  CHECK(methods[18].name == "tidal");
  for (size_t i = 0; i < 19; ++i) CHECK(methods[i].origin == "built-in");
  CHECK_THROWS_AS(register_kv_method({"snapkv", "shadow", "", "test"}, [](std::string_view c) { return make_kv_policy(c); }),
                  std::invalid_argument);
  register_kv_method({"test_alias_full", "full under another name", "", "test"},
                     [](std::string_view) { return make_kv_policy("full"); });
  CHECK(make_kv_policy("test_alias_full")->config() == "full:elem_bytes=2");
  CHECK(kv_methods().back().name == "test_alias_full");
}

TEST_CASE("every method keeps exactly its requested bytes and decodes validly", "[kv]") {
  const auto c = needle_case(5, 0.5);
  for (size_t i = 0; i < 17; ++i) {  // the per-layer methods; cla and tidal: test_kv_cross_layer
    const std::string name = kv_methods()[i].name;
    const std::string cfg = name == "kivi" || name == "int8" || name == "leank" ? name
                            : name == "duo" || name == "razor" ? name + ":sink=4,recent=124,retrieval=0.5"
                                                               : name + ":budget=128";
    INFO(cfg);
    const KvCaseRun r = run_kv_case(cpu().env, c, cfg);
    INFO(r.budget.error);
    CHECK(r.budget.ok);
    CHECK(r.metrics.kv_bytes == r.budget.requested);
    if (name != "full") CHECK(r.metrics.compression_ratio > 1.0);
    INFO(r.metrics.error);
    CHECK(r.metrics.ok);
    CHECK(r.compress_kernel >= 0);
    CHECK(r.decode_kernel > 0);
  }
}

TEST_CASE("a method that silently keeps everything or nothing fails the budget check", "[kv]") {
  const auto c = needle_case(5, 0.5);
  CHECK_FALSE(run_policy(c, Liar("snapkv:budget=128", "full")).budget.ok);  // keeps the full cache
  CHECK_THAT(run_policy(c, Liar("snapkv:budget=128", "full")).budget.error, Catch::Contains("budget asks for"));
  CHECK(run_policy(c, Liar("streaming:budget=128", "streaming:budget=128")).budget.ok);  // the honest control
  const auto empty = run_policy(c, Liar("streaming:budget=128", "streaming:budget=128", [](ab_kv_plan& p) { p.kept_count[1] = 0; }));
  CHECK_FALSE(empty.budget.ok);
  CHECK_THAT(empty.budget.error, Catch::Contains("keeps no token"));
  const auto lying = run_policy(c, Liar("streaming:budget=128", "streaming:budget=128", [](ab_kv_plan& p) { p.bytes_per_head[0] += 1; }));
  CHECK_FALSE(lying.budget.ok);  // totals that do not add up
  const auto unsorted = run_policy(c, Liar("streaming:budget=128", "streaming:budget=128",
                                           [](ab_kv_plan& p) { std::swap(p.kept[0], p.kept[1]); }));
  CHECK_FALSE(unsorted.budget.ok);
  const auto outside = run_policy(c, Liar("streaming:budget=128", "streaming:budget=128",
                                          [](ab_kv_plan& p) { p.kept[p.kept_count[0] - 1] = 1 << 20; }));
  CHECK_FALSE(outside.budget.ok);
}

TEST_CASE("decode fails on NaN, Inf or all-zero output", "[kv]") {
  const auto c = needle_case(5, 0.5, 512);
  CHECK(run_recall_case(c, "full").ok);
  // Corrupt values reach the output (the CPU decode kernel's exp clamps a NaN/Inf logit,
  // so a corrupt key is not visible there; a corrupt value is).
  auto nan = c;
  nan.v[3] = std::numeric_limits<float>::quiet_NaN();
  const auto n = run_recall_case(nan, "full");
  CHECK_FALSE(n.ok);
  CHECK_THAT(n.error, Catch::Contains("NaN/Inf"));
  auto zero = c;
  std::fill(zero.v.begin(), zero.v.begin() + static_cast<size_t>(c.len_k) * c.head_dim, 0.f);  // head 0's V
  const auto z = run_recall_case(zero, "full");
  CHECK_FALSE(z.ok);
  CHECK_THAT(z.error, Catch::Contains("all-zero"));
  auto inf = c;
  inf.v[static_cast<size_t>(c.len_k) * c.head_dim] = std::numeric_limits<float>::infinity();  // head 1
  CHECK_FALSE(run_recall_case(inf, "full").ok);
}

TEST_CASE("the backend's decode over a compacted cache matches the fp64 oracle's", "[kv]") {
  const auto c = needle_case(4, 0.4);
  for (const char* cfg : {"full", "snapkv:budget=128", "razor:sink=4,recent=60,retrieval=0.5", "leank:drop=0.5", "h2o:budget=64"}) {
    INFO(cfg);
    const KvCaseRun r = run_case(c, cfg);
    const std::vector<double> ref = reference_decode(c, r.kept, r.channel_mask);
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) num += (r.o[i] - ref[i]) * (r.o[i] - ref[i]), den += ref[i] * ref[i];
    CHECK(std::sqrt(num / den) < 1e-5);
  }
}

TEST_CASE("a backend without KV primitives, or without one primitive, is unsupported", "[kv]") {
  const auto c = needle_case(5, 0.5, 512);
  ab_plugin none = *cpu().env.plugin;
  none.kv = nullptr;
  CHECK_THROWS_AS(run_kv_case({&none, cpu().env.ctx}, c, "streaming:budget=64"), KvUnsupported);
  ab_plugin partial = *cpu().env.plugin;
  ab_kv_ops ops = *partial.kv;
  ops.observation_scores = nullptr;
  partial.kv = &ops;
  CHECK_THROWS_AS(run_kv_case({&partial, cpu().env.ctx}, c, "snapkv:budget=64"), KvUnsupported);
  CHECK(run_kv_case({&partial, cpu().env.ctx}, c, "streaming:budget=64").metrics.ok);  // positions only
}

TEST_CASE("streaming keeps needles inside sinks + window and loses those outside (StreamingLLM)", "[kv]") {
  for (uint64_t s : {1, 2, 3}) {
    const auto inside = needle_case(s, 1.0);   // last haystack token: inside the recent window
    const auto outside = needle_case(s, 0.5);  // middle: evicted
    const auto ri = run_recall_case(inside, "streaming:budget=128,sink=4");
    const auto ro = run_recall_case(outside, "streaming:budget=128,sink=4");
    CHECK(ri.accuracy == 1.0);
    CHECK(ro.accuracy <= 0.25);
    CHECK(ro.mass_kept < 0.2);
    CHECK(ri.mass_kept > 0.9);
  }
}

TEST_CASE("snapkv keeps the asked needle at a budget where random loses it (SnapKV)", "[kv]") {
  const double snap = rate("snapkv:budget=128,window=32,pool=7");
  const double rnd = rate("random:budget=128,seed=3");
  const double ea = rate("expected_attention:budget=128,window=32");
  INFO("snapkv " << snap << " random " << rnd << " expected_attention " << ea);
  CHECK(snap >= 0.95);
  CHECK(rnd <= 0.35);  // keeps 12.5% of tokens: retrieval ~ keep probability
  CHECK(snap > rnd + 0.5);
  CHECK(ea >= 0.9);  // the question in the window dominates mu: same information as snapkv
}

TEST_CASE("h2o loses a needle no context query attended, keeps it when they did (H2O)", "[kv]") {
  const double off = rate("h2o:budget=128", false, 4);
  const double on = rate("h2o:budget=128", true, 4);
  const double snap_off = rate("snapkv:budget=128,window=32,pool=7", false, 4);
  INFO("h2o knob off " << off << " on " << on << "; snapkv knob off " << snap_off);
  CHECK(off <= 0.4);
  CHECK(on >= 0.9);
  CHECK(snap_off >= 0.95);
}

TEST_CASE("kivi 4-bit error < kivi 2-bit error < random eviction at equal bytes (KIVI)", "[kv]") {
  double e4 = 0, e2 = 0, er = 0;
  for (uint64_t s : {1, 2, 3, 4}) {
    const auto c = needle_case(s, 0.3);
    const auto k2 = run_recall_case(c, "kivi:bits=2,group=32,residual=128");
    const auto k4 = run_recall_case(c, "kivi:bits=4,group=32,residual=128");
    // Random eviction with the bytes of kivi-2: tokens = bytes / (Hkv * 2 * d * 2).
    const int tokens = static_cast<int>(k2.kv_bytes / (c.heads_kv * token_bytes(1, c.head_dim, 2)));
    const auto rr = run_recall_case(c, "random:budget=" + std::to_string(tokens) + ",seed=" + std::to_string(s));
    CHECK(rr.kv_bytes <= k2.kv_bytes);
    CHECK(rr.kv_bytes + c.heads_kv * token_bytes(1, c.head_dim, 2) > k2.kv_bytes);
    CHECK(k2.compression_ratio > 3.0);
    e4 += k4.output_error, e2 += k2.output_error, er += rr.output_error;
  }
  INFO("output error: kivi4 " << e4 / 4 << " kivi2 " << e2 / 4 << " random " << er / 4);
  CHECK(e4 < e2);
  CHECK(e2 < er);
}

TEST_CASE("int8 stores d+2 bytes per token per tensor and is near-lossless", "[kv]") {
  const auto c = needle_case(9, 0.5, 512);
  const auto r = run_recall_case(c, "int8");
  CHECK(r.kv_bytes == uint64_t(c.heads_kv) * c.len_k * 2 * (c.head_dim + 2));
  CHECK(r.accuracy == 1.0);
  CHECK(r.output_error < 0.02);
}

TEST_CASE("duo and razor memory ratios follow exactly from the head split (DuoAttention, RazorAttention)", "[kv]") {
  // kept = n_r*L + (H - n_r)*(s + w) [+1 per streaming head for razor];
  // ratio = H*L / kept = 1 / (f + (1 - f)(s + w)/L) with f = n_r / H.
  auto ratio = [](double f, double sw, double L) { return 1.0 / (f + (1 - f) * sw / L); };
  struct Cfg { int hq, hkv; double f; int s, w; double expect; };
  // MHA with 25% retrieval heads and GQA with 50%: (s + w)/L ~ 0.19-0.20 reproduces the
  // DuoAttention 2.55x (MHA) / 1.67x (GQA) figures; the KV-only ratio tends to 1/f.
  for (const Cfg cfg : {Cfg{4, 4, 0.25, 4, 384, 2.55}, Cfg{4, 2, 0.5, 4, 401, 1.67}}) {
    RecallKnobs k;
    k.heads_q = cfg.hq, k.heads_kv = cfg.hkv;
    TaskParams p;
    p.len_k = 2048;
    const auto c = make_task(p, k);
    const std::string tail = ":sink=" + std::to_string(cfg.s) + ",recent=" + std::to_string(cfg.w) + ",retrieval=" + std::to_string(cfg.f);
    const auto duo = run_recall_case(c, "duo" + tail);
    const auto razor = run_recall_case(c, "razor" + tail);
    const double want = ratio(cfg.f, cfg.s + cfg.w, p.len_k);
    CHECK(duo.compression_ratio == Approx(want).epsilon(1e-12));
    CHECK(duo.compression_ratio == Approx(cfg.expect).margin(0.01));
    const double nr = cfg.f * cfg.hkv;
    CHECK(razor.compression_ratio == Approx(cfg.hkv * 2048.0 / (nr * 2048 + (cfg.hkv - nr) * (cfg.s + cfg.w + 1))).epsilon(1e-12));
    // Only the retrieval heads hold a mid-context needle: per-head accuracy is exactly f.
    CHECK(duo.accuracy == Approx(cfg.f));
  }
}

TEST_CASE("pyramidkv budgets shrink across layers and average the flat budget (PyramidKV)", "[kv]") {
  const auto m = make_kv_policy("pyramidkv:budget=128,window=16,pool=7,beta=8");
  KvPrimitives prims(cpu().env);
  size_t prev = SIZE_MAX, total = 0;
  std::vector<float> k0;
  for (int l = 0; l < 4; ++l) {
    RecallKnobs k;
    k.layer = l;
    TaskParams p;
    p.len_k = 1024;
    const RecallCase c = make_task(p, k);
    if (l == 0) k0 = c.k;
    if (l == 1) CHECK(c.k != k0);
    DeviceLayer dev = upload_layer(prims, c, true, l, 4);
    const KvCaseRun r = run_kv_case(cpu().env, c, *m, dev);
    INFO(r.budget.error);
    REQUIRE(r.budget.ok);
    const size_t n = r.kept[0].size();
    CHECK(n < prev);
    prev = n, total += n;
    CHECK(r.metrics.ok);
  }
  CHECK(total == Approx(4 * 128).margin(4));
}

TEST_CASE("l2norm keeps the low-norm sinks; a2sf and tova run and keep the recent question (Devoto et al.)", "[kv]") {
  const auto c = needle_case(3, 0.5);
  const auto l2 = run_case(c, "l2norm:budget=64");
  for (int s = 0; s < c.n_sinks; ++s) CHECK(l2.kept[0][s] == s);
  for (const char* cfg : {"a2sf:budget=128,lambda=0.95", "tova:budget=128", "h2o:budget=128,online=0"}) {
    INFO(cfg);
    const auto r = run_case(c, cfg);
    CHECK(r.kept[0].size() == 128u);
    CHECK(r.kept[0].back() == c.len_k - 1);
  }
}
