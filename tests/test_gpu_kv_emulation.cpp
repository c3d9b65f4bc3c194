// The GPU backends' KV primitives on the CPU: the emulation (same work items and block
// algorithms as the kernels, backends/gpu/kv_emulation.cpp) against plain fp64
// references (test_gpu_kv_reference.h) and against the CPU plugin's primitives loaded
// through the ABI, on random shapes: GQA, key subsets, pooling, top-k ties and forced
// ends, compaction with compensation slots and channel masks, 2/4/8-bit quantisation.
#include <catch2/catch.hpp>
#include <dlfcn.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kv_emulation.h"
#include "kv_math.h"
#include "kv_quant.h"
#include "test_gpu_kv_cases.h"
#include "test_gpu_kv_reference.h"

using namespace attnbench::gpu;
using namespace kvcase;

namespace {

constexpr int kTrials = 60;

/// The CPU plugin with its KV primitives, or null when its table has none (yet).
struct CpuPlugin {
  const ab_plugin* p = nullptr;
  void* ctx = nullptr;
  CpuPlugin() {
    const std::string path = std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-cpu.so";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    auto entry = reinterpret_cast<ab_plugin_entry_fn>(dlsym(h, ATTNBENCH_PLUGIN_ENTRY));
    const ab_plugin* t = entry ? entry() : nullptr;
    if (!t || t->api_version < 2 || t->struct_size < sizeof(ab_plugin) || !t->kv) return;
    if (t->create(0, "threads=1", &ctx) != AB_OK) return;
    p = t;
  }
  ~CpuPlugin() { if (p) p->destroy(ctx); }
  /// Whether the primitive `fn` of the table is implemented.
  template <class F> bool has(F ab_kv_ops::*fn) const { return p && p->kv->*fn; }
};

CpuPlugin& cpu() {
  static CpuPlugin c;
  return c;
}

/// The CPU plugin's KV primitives are part of the build (tests/CMakeLists.txt makes this
/// test depend on the plugin), so a missing one is a failure, not a skipped comparison.
void note_missing(const char* what) { FAIL_CHECK("CPU plugin has no KV primitive '" << what << "'"); }

template <class T> std::vector<T> poison(size_t n) {
  std::vector<T> v(n);
  std::memset(v.data(), 0xFF, n * sizeof(T));
  return v;
}

}  // namespace

TEST_CASE("fp16 rounding of scales equals the hardware conversion", "[gpu][kv][quant]") {
  std::mt19937 rng(11);
  std::vector<float> xs = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 1e-10f, 0.1f, -3.3f};
  for (float x : normal(20000, rng, 1.0f)) xs.push_back(x * std::pow(10.0f, float(uniform(rng, -9, 5))));
  for (float x : xs) {
    const float want = static_cast<float>(static_cast<_Float16>(x));
    INFO(x);
    REQUIRE(kv::round_fp16(x) == want);
    REQUIRE(std::signbit(kv::round_fp16(x)) == std::signbit(want));
    if (std::isfinite(want)) REQUIRE(kv::fp16_value(kv::fp16_bits(want)) == want);
    _Float16 h = static_cast<_Float16>(x);
    uint16_t bits;
    std::memcpy(&bits, &h, 2);
    REQUIRE(kv::fp16_bits(want) == bits);
  }
}

TEST_CASE("emulated observation scores match fp64 and the CPU plugin", "[gpu][kv][scores]") {
  std::mt19937 rng(101);
  if (!cpu().has(&ab_kv_ops::observation_scores)) note_missing("observation_scores");
  for (int trial = 0; trial < kTrials; ++trial) {
    ScoreCase c = ScoreCase::random(rng);
    auto out = poison<float>(c.out_count());
    c.a.scores = host(out.data());
    std::string err;
    REQUIRE(emulate_kv_observation_scores(c.a, &err) == AB_OK);
    const auto ref = kvref::scores(c.a);
    INFO("trial " << trial << " hq " << c.a.heads_q << " hkv " << c.a.heads_kv << " lk " << c.a.len_k << " keys "
         << (c.a.keys != nullptr) << " pos " << (c.a.q_pos != nullptr) << " pool " << c.a.pool << "/" << c.a.pool_end
         << " reduce " << c.a.row_reduce << c.a.group_reduce);
    CHECK(max_rel_err(out, ref, [&](size_t i) { return c.written(i); }) < 2e-5);
    for (size_t i = 0; i < out.size(); ++i)
      if (!c.written(i)) REQUIRE(std::isnan(out[i]));  // untouched slots stay poisoned
    if (cpu().has(&ab_kv_ops::observation_scores)) {
      std::vector<float> theirs;
      PluginRunner run(cpu().p, cpu().ctx);
      REQUIRE(run.scores(c.a, c, theirs) == AB_OK);
      CHECK(max_rel_err(out, theirs, [&](size_t i) { return c.written(i); }) < 2e-5);
    }
  }
}

TEST_CASE("emulated statistics match fp64 and the CPU plugin", "[gpu][kv][stats]") {
  std::mt19937 rng(202);
  if (!cpu().has(&ab_kv_ops::statistics)) note_missing("statistics");
  for (int trial = 0; trial < kTrials; ++trial) {
    const auto stat = static_cast<ab_kv_stat>(trial % 4);
    StatCase c = StatCase::random(rng, stat);
    std::vector<float> aux;
    if (stat == AB_KV_EXPECTED_LOGIT) {  // the moments come from QUERY_MEAN_COV
      StatCase m = c;
      m.a.stat = AB_KV_QUERY_MEAN_COV;
      aux.resize(m.out_count());
      m.a.out = host(aux.data());
      REQUIRE(emulate_kv_statistics(m.a, nullptr) == AB_OK);
      c.a.aux = host(aux.data());
    }
    auto out = poison<float>(c.out_count());
    c.a.out = host(out.data());
    REQUIRE(emulate_kv_statistics(c.a, nullptr) == AB_OK);
    const auto ref = kvref::statistics(c.a);
    REQUIRE(ref.size() == out.size());
    INFO("trial " << trial << " stat " << stat << " hq " << c.a.heads_q << " lk " << c.a.len_k << " d " << c.a.head_dim);
    CHECK(max_rel_err(out, ref, [](size_t) { return true; }) < 5e-5);
    if (cpu().has(&ab_kv_ops::statistics)) {
      std::vector<float> theirs;
      PluginRunner run(cpu().p, cpu().ctx);
      REQUIRE(run.statistics(c.a, c, aux, theirs) == AB_OK);
      CHECK(max_rel_err(out, theirs, [](size_t) { return true; }) < 5e-5);
    }
  }
}

TEST_CASE("emulated top-k keeps forced ends and breaks ties to the lower position", "[gpu][kv][topk]") {
  std::mt19937 rng(303);
  if (!cpu().has(&ab_kv_ops::topk)) note_missing("topk");
  for (int trial = 0; trial < 2 * kTrials; ++trial) {
    TopkCase c = TopkCase::random(rng, trial % 2 == 0);
    auto out = poison<int32_t>(size_t(c.a.rows) * c.a.k);
    c.a.out = host(out.data());
    REQUIRE(emulate_kv_topk(c.a, nullptr) == AB_OK);
    INFO("trial " << trial << " n " << c.a.n << " k " << c.a.k << " force " << c.a.force_head << "+" << c.a.force_tail);
    CHECK(out == kvref::topk(c.a));
    if (cpu().has(&ab_kv_ops::topk)) {
      std::vector<int32_t> theirs;
      PluginRunner run(cpu().p, cpu().ctx);
      REQUIRE(run.topk(c.a, c, theirs) == AB_OK);
      CHECK(out == theirs);
    }
  }
  // All scores equal: the first k positions (after the forced head) win.
  std::vector<float> s(50, 1.0f);
  std::vector<int32_t> out(10);
  ab_kv_topk_args a{1, 50, 10, 2, 3, host(s.data()), host(out.data())};
  REQUIRE(emulate_kv_topk(a, nullptr) == AB_OK);
  CHECK(out == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 47, 48, 49});
}

TEST_CASE("emulated dot products match fp64 and the CPU plugin", "[gpu][kv][dot]") {
  std::mt19937 rng(404);
  if (!cpu().has(&ab_kv_ops::dot)) note_missing("dot");
  for (int trial = 0; trial < kTrials / 2; ++trial) {
    ab_kv_dot_args a{uniform(rng, 1, 3), uniform(rng, 1, 40), uniform(rng, 1, 70), uniform(rng, 1, 130), {}, {}, {}};
    const auto x = normal(size_t(a.batch) * a.m * a.dim, rng), y = normal(size_t(a.batch) * a.n * a.dim, rng);
    auto out = poison<float>(size_t(a.batch) * a.m * a.n);
    a.a = host(x.data()); a.b = host(y.data()); a.out = host(out.data());
    REQUIRE(emulate_kv_dot(a, nullptr) == AB_OK);
    CHECK(max_rel_err(out, kvref::dot(a), [](size_t) { return true; }) < 1e-5);
    if (cpu().has(&ab_kv_ops::dot)) {
      std::vector<float> theirs;
      PluginRunner run(cpu().p, cpu().ctx);
      REQUIRE(run.dot(a, x, y, theirs) == AB_OK);
      CHECK(max_rel_err(out, theirs, [](size_t) { return true; }) < 1e-5);
    }
  }
}

TEST_CASE("emulated compaction gathers kept slots, compensation means and masks", "[gpu][kv][compact]") {
  std::mt19937 rng(505);
  if (!cpu().has(&ab_kv_ops::compact)) note_missing("compact");
  for (int trial = 0; trial < kTrials; ++trial) {
    CompactCase c = CompactCase::random(rng);
    auto ko = poison<float>(c.out_count()), vo = poison<float>(c.out_count());
    c.a.k_out = host(ko.data());
    c.a.v_out = host(vo.data());
    REQUIRE(emulate_kv_compact(c.a, nullptr) == AB_OK);
    std::vector<double> rk, rv;
    kvref::compact(c.a, rk, rv);
    auto written = [&](size_t i) { return c.written(i); };
    INFO("trial " << trial << " hkv " << c.a.heads_kv << " lk " << c.a.len_k << " stride " << c.a.kept_stride);
    CHECK(max_rel_err(ko, rk, written) < 1e-5);
    CHECK(max_rel_err(vo, rv, written) < 1e-5);
    for (size_t i = 0; i < ko.size(); ++i)
      if (!written(i)) REQUIRE((std::isnan(ko[i]) && std::isnan(vo[i])));
    if (cpu().has(&ab_kv_ops::compact)) {
      std::vector<float> tk, tv;
      PluginRunner run(cpu().p, cpu().ctx);
      REQUIRE(run.compact(c.a, c, tk, tv) == AB_OK);
      CHECK(max_rel_err(ko, tk, written) < 1e-5);
      CHECK(max_rel_err(vo, tv, written) < 1e-5);
    }
  }
}

TEST_CASE("emulated quantised cache dequantises to the spec's values", "[gpu][kv][quant]") {
  std::mt19937 rng(606);
  for (int bits : {2, 4, 8})
    for (int trial = 0; trial < kTrials / 3; ++trial) {
      QuantCase c = QuantCase::random(rng, bits);
      size_t bytes = 0;
      REQUIRE(emulate_kv_quant_bytes(c.qa, &bytes, nullptr) == AB_OK);
      std::vector<uint8_t> cache(bytes, 0xAB);
      c.qa.out = host(cache.data());
      REQUIRE(emulate_kv_quantize(c.qa, nullptr) == AB_OK);
      const auto* heads = reinterpret_cast<const kv::QuantHead*>(cache.data());
      const int d = c.qa.head_dim;
      INFO("bits " << bits << "/" << c.qa.spec.value_bits << " axes " << c.qa.spec.key_axis << c.qa.spec.value_axis
           << " groups " << c.qa.spec.key_group << "/" << c.qa.spec.value_group << " sym " << c.qa.spec.symmetric
           << " residual " << c.qa.spec.residual << " len " << c.qa.len_k << " d " << d);
      for (int j = 0; j < c.qa.heads_kv; ++j) {
        const int len = c.lens.empty() ? c.qa.len_k : c.lens[j];
        REQUIRE(heads[j].nq == kvref::quantised_tokens(c.qa.spec, len));
        for (int w = 0; w < 2; ++w) {
          std::vector<float> x((w ? c.v : c.k).begin() + size_t(j) * c.qa.len_k * d,
                               (w ? c.v : c.k).begin() + (size_t(j) * c.qa.len_k + len) * d);
          const std::vector<float> orig = x;
          kvref::fake_quant(x.data(), len, d, c.qa.spec, w == 1);
          for (int t = 0; t < len; ++t)
            for (int ch = 0; ch < d; ++ch) {
              const float got = kv::quant_load(cache.data(), heads[j], w, t, ch), want = x[size_t(t) * d + ch];
              if (t >= heads[j].nq) REQUIRE(got == orig[size_t(t) * d + ch]);  // full-precision window
              REQUIRE(got == Approx(want).margin(1e-6));
            }
        }
      }
      // Real packed bytes: bit-packed codes, fp16 scales (and zeros), fp32 window, plus at
      // most the per-head records and 16-byte alignment of the six sections per head.
      size_t packed = 0;
      const ab_kv_quant_spec& sp = c.qa.spec;
      for (int j = 0; j < c.qa.heads_kv; ++j) {
        const int len = c.lens.empty() ? c.qa.len_k : c.lens[j], nq = kvref::quantised_tokens(sp, len);
        for (int w = 0; w < 2; ++w) {
          const int b = w ? sp.value_bits : sp.key_bits, g = w ? sp.value_group : sp.key_group;
          const bool per_token = (w ? sp.value_axis : sp.key_axis) == AB_KV_PER_TOKEN;
          const size_t groups = per_token ? size_t(nq) * ((d + (g <= 0 || g > d ? d : g) - 1) / (g <= 0 || g > d ? d : g))
                                          : (nq == 0 ? 0 : size_t(nq) / (g > 0 ? g : nq) * d);
          packed += (size_t(nq) * d * b + 7) / 8 + groups * (sp.symmetric ? 2 : 4) + size_t(len - nq) * d * 4;
        }
      }
      CHECK(bytes >= packed);
      CHECK(bytes <= packed + c.qa.heads_kv * (sizeof(kv::QuantHead) + 6 * 16 + 2) + 16);
    }
}

TEST_CASE("emulated quantised decode matches fp64 and the CPU plugin", "[gpu][kv][quant]") {
  std::mt19937 rng(707);
  if (!cpu().has(&ab_kv_ops::quant_decode)) note_missing("quant_decode");
  for (int bits : {2, 4, 8})
    for (int trial = 0; trial < kTrials / 3; ++trial) {
      QuantCase c = QuantCase::random(rng, bits);
      size_t bytes = 0;
      REQUIRE(emulate_kv_quant_bytes(c.qa, &bytes, nullptr) == AB_OK);
      std::vector<uint8_t> cache(bytes);
      c.qa.out = host(cache.data());
      REQUIRE(emulate_kv_quantize(c.qa, nullptr) == AB_OK);
      auto o = poison<float>(c.out_count());
      c.da.cache = host(cache.data());
      c.da.o = host(o.data());
      REQUIRE(emulate_kv_quant_decode(c.da, nullptr) == AB_OK);
      const auto ref = kvref::quant_decode(c.da, c.k.data(), c.v.data());
      INFO("bits " << bits << " trial " << trial << " sym " << c.qa.spec.symmetric << " len " << c.qa.len_k);
      CHECK(max_rel_err(o, ref, [](size_t) { return true; }) < 1e-4);
      if (cpu().has(&ab_kv_ops::quant_decode)) {
        std::vector<float> theirs;
        size_t their_bytes = 0;
        PluginRunner run(cpu().p, cpu().ctx);
        REQUIRE(run.quant_decode(c, theirs, &their_bytes) == AB_OK);
        CHECK(max_rel_err(o, theirs, [](size_t) { return true; }) < 1e-4);
      }
    }
}

TEST_CASE("emulated KV primitives refuse bad arguments with the CPU plugin's messages", "[gpu][kv][errors]") {
  std::vector<float> buf(256);
  const ab_buffer B = host(buf.data());
  // Each bad call: the emulation's status and message, and the CPU plugin's (when built).
  auto expect = [&](auto emulate, auto cpu_fn, const auto& args, const std::string& message) {
    std::string err;
    CHECK(emulate(args, &err) == AB_INVALID_ARGUMENT);
    CHECK(err == message);
    if (cpu().p && cpu().p->kv->*cpu_fn) {
      CHECK((cpu().p->kv->*cpu_fn)(cpu().ctx, &args, nullptr) == AB_INVALID_ARGUMENT);
      CHECK(std::string(cpu().p->last_error(cpu().ctx)) == message);
    }
  };
  auto topk = [](const ab_kv_topk_args& a, std::string* e) { return emulate_kv_topk(a, e); };
  expect(topk, &ab_kv_ops::topk, ab_kv_topk_args{1, 4, 5, 0, 0, B, B}, "topk: k must be in [1, n = 4] (got 5)");
  expect(topk, &ab_kv_ops::topk, ab_kv_topk_args{1, 4, 2, 2, 1, B, B}, "topk: force_head + force_tail (3) exceeds k (2)");

  auto scores = [](const ab_kv_score_args& a, std::string* e) { return emulate_kv_observation_scores(a, e); };
  ab_kv_score_args s{};
  s.heads_q = 3; s.heads_kv = 2; s.len_k = 4; s.head_dim = 4; s.q_rows = 4; s.n_obs = 1; s.pool = 1; s.scale = 1;
  s.k = s.q = s.scores = B;
  expect(scores, &ab_kv_ops::observation_scores, s, "observation_scores: heads_q (3) must be a multiple of heads_kv (2)");
  s.heads_q = 2; s.pool = 4;
  expect(scores, &ab_kv_ops::observation_scores, s, "observation_scores: pool must be an odd width >= 1 (got 4)");
  s.pool = 1;
  const int32_t keys[2] = {2, 1}, count[2] = {2, 0};
  s.keys = keys; s.key_count = count; s.keys_stride = 1;
  expect(scores, &ab_kv_ops::observation_scores, s, "observation_scores: key_count[0] = 2 is not in [0, keys_stride = 1]");
  s.keys_stride = 2; s.heads_kv = 1; s.heads_q = 1;
  expect(scores, &ab_kv_ops::observation_scores, s, "observation_scores: keys of head 0 are not strictly ascending at slot 1");

  auto compact = [](const ab_kv_compact_args& a, std::string* e) { return emulate_kv_compact(a, e); };
  ab_kv_compact_args c{};
  const int32_t kept[3] = {0, -1, 2}, kc[1] = {3};
  c.heads_kv = 1; c.len_k = 4; c.head_dim = 4; c.kept = kept; c.kept_count = kc; c.kept_stride = 3;
  c.k = c.v = c.k_out = c.v_out = B;
  expect(compact, &ab_kv_ops::compact, c, "compact: head 0: the compensation slot (-1) must be the last kept slot");

  auto qbytes = [](const ab_kv_quant_args& a, std::string* e) { size_t b; return emulate_kv_quant_bytes(a, &b, e); };
  ab_kv_quant_args q{};
  q.heads_kv = 1; q.len_k = 8; q.head_dim = 4; q.spec.key_bits = 9; q.spec.value_bits = 4;
  std::string err;
  size_t bytes = 0;
  CHECK(qbytes(q, &err) == AB_INVALID_ARGUMENT);
  CHECK(err == "quant_bytes: key_bits must be in 1..8 (got 9)");
  q.spec.key_bits = 1; q.spec.symmetric = 1;
  CHECK(qbytes(q, &err) == AB_INVALID_ARGUMENT);
  CHECK(err == "quant_bytes: key_bits must be >= 2 for symmetric codes (1 bit has no level but 0)");
  if (cpu().has(&ab_kv_ops::quant_bytes)) {
    CHECK(cpu().p->kv->quant_bytes(cpu().ctx, &q, &bytes) == AB_INVALID_ARGUMENT);
    CHECK(std::string(cpu().p->last_error(cpu().ctx)) == err);
  }

  // A cache quantised with another spec is refused, not misread.
  q.spec = ab_kv_quant_spec{4, 4, AB_KV_PER_CHANNEL, AB_KV_PER_TOKEN, 4, 0, 0, 0};
  REQUIRE(emulate_kv_quant_bytes(q, &bytes, &err) == AB_OK);
  std::vector<uint8_t> cache(bytes);
  std::vector<float> kv(32, 0.5f), qv(4, 1.0f), o(4);
  q.k = q.v = host(kv.data());
  q.out = host(cache.data());
  REQUIRE(emulate_kv_quantize(q, &err) == AB_OK);
  ab_kv_quant_decode_args d{};
  d.heads_q = 1; d.heads_kv = 1; d.len_k = 8; d.head_dim = 4; d.spec = q.spec; d.spec.residual = 3;
  d.cache = host(cache.data()); d.q = host(qv.data()); d.n_q = 1; d.scale = 0.5f; d.o = host(o.data());
  CHECK(emulate_kv_quant_decode(d, &err) == AB_INVALID_ARGUMENT);
  CHECK(err == "quant_decode: the cache was not quantised with this shape and spec");
  d.spec.residual = 0;
  REQUIRE(emulate_kv_quant_decode(d, &err) == AB_OK);
  for (float x : o) CHECK(x == Approx(0.5f));  // constant V: fp16(0.5) exactly
}

TEST_CASE("the CPU plugin reads HND page pools and refuses NHD with a reason", "[gpu][paged]") {
  CpuPlugin& c = cpu();
  REQUIRE(c.p != nullptr);
  ab_attention_args a{};
  a.batch = 1; a.heads_q = 4; a.heads_kv = 2; a.len_q = 1; a.len_k = 64; a.head_dim = 64;
  a.dtype = AB_F32; a.window_left = -1; a.window_right = -1; a.scale = 0.125f;
  a.page_size = 16; a.max_pages_per_seq = 4; a.num_pages = 4;
  REQUIRE(c.p->supports(c.ctx, "decode", &a) == AB_OK);  // kv_layout 0 = HND
  a.kv_layout = AB_KV_NHD;
  REQUIRE(c.p->supports(c.ctx, "decode", &a) == AB_UNSUPPORTED);
  REQUIRE(std::string(c.p->last_error(c.ctx)).find("HND") != std::string::npos);
  REQUIRE(c.p->supports(c.ctx, "reference", &a) == AB_UNSUPPORTED);
  a.kv_layout = 5;
  REQUIRE(c.p->supports(c.ctx, "decode", &a) == AB_INVALID_ARGUMENT);
  a.page_size = 0; a.max_pages_per_seq = 0; a.num_pages = 0;  // layout ignored without pages
  REQUIRE(c.p->supports(c.ctx, "decode", &a) == AB_OK);
}
