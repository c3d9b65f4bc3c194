// Cross-layer KV methods on multi-layer recall cases, run through the CPU plugin's KV
// primitives by the executor's LayerChain: cla's sharing layers decode over the first
// layer's cache of their group (checked against an fp64 decode of their own queries over
// that layer's K/V) and store nothing; tidal's selection layers keep everything and the
// layers after them keep exactly the top-budget positions of the selection layer's
// decode-query attention (computed in fp64 here). Both run on one layer as full
// attention, and both refuse a layer run without the layers before it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cli_harness.h"
#include "kv_config.h"
#include "kv_policy_base.h"
#include "recall_layers.h"
#include "test_kv_backend.h"

using namespace attnbench;

namespace {

constexpr int kLen = 256;

/// Layer l of an L-layer single-needle case (layer_knobs, as the recall executor makes them).
recall::RecallCase layer_case(int l, int L) {
  recall::TaskParams p;
  p.len_k = kLen;
  recall::RecallKnobs k;
  k.case_hash = 11;
  return recall::make_task(p, recall::layer_knobs(k, l, L));
}

/// Every layer of an L-layer case run in order through one LayerChain.
std::vector<kv::KvCaseRun> run_layers(const std::string& config, int L, std::vector<recall::RecallCase>* cases = nullptr) {
  const auto policy = kv::make_kv_policy(config);
  kv::KvPrimitives prims(kvtest::cpu().env);
  kv::LayerChain chain(kvtest::cpu().env, *policy);
  std::vector<kv::KvCaseRun> out;
  for (int l = 0; l < L; ++l) {
    const recall::RecallCase rc = layer_case(l, L);
    kv::DeviceLayer dev = kv::upload_layer(prims, rc, policy->needs_queries(), l, L);
    out.push_back(chain.run(rc, dev));
    INFO("layer " << l << ": " << out.back().budget.error << out.back().metrics.error);
    REQUIRE(out.back().budget.ok);
    REQUIRE(out.back().metrics.ok);
    if (cases) cases->push_back(rc);
  }
  return out;
}

/// Largest relative difference between a backend output and an fp64 reference.
double rel_diff(const std::vector<float>& o, const std::vector<double>& ref) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < o.size(); ++i) err = std::max(err, std::fabs(o[i] - ref[i])), norm = std::max(norm, std::fabs(ref[i]));
  return err / norm;
}

/// fp64 attention probabilities of each decode query of `q_from` over `kv_from`'s keys:
/// [heads_q][n_questions][len_k].
std::vector<std::vector<std::vector<double>>> decode_probs(const recall::RecallCase& q_from, const recall::RecallCase& kv_from) {
  const int Hq = q_from.heads_q, nq = q_from.n_questions, d = q_from.head_dim, Lk = q_from.len_k, g = Hq / q_from.heads_kv;
  std::vector<std::vector<std::vector<double>>> p(Hq, std::vector<std::vector<double>>(nq, std::vector<double>(Lk)));
  for (int h = 0; h < Hq; ++h)
    for (int i = 0; i < nq; ++i) {
      const float* q = &q_from.q_question[(static_cast<size_t>(h) * nq + i) * d];
      double mx = -INFINITY, z = 0;
      for (int t = 0; t < Lk; ++t) {
        double s = 0;
        for (int c = 0; c < d; ++c) s += static_cast<double>(q[c]) * kv_from.k[(static_cast<size_t>(h / g) * Lk + t) * d + c];
        mx = std::max(mx, p[h][i][t] = s / std::sqrt(static_cast<double>(d)));
      }
      for (double& x : p[h][i]) z += (x = std::exp(x - mx));
      for (double& x : p[h][i]) x /= z;
    }
  return p;
}

/// Decode-query attention of rc summed over questions and each KV head's query group, fp64: [heads_kv][len_k].
std::vector<std::vector<double>> selection_scores(const recall::RecallCase& rc) {
  const auto p = decode_probs(rc, rc);
  const int g = rc.heads_q / rc.heads_kv;
  std::vector<std::vector<double>> s(rc.heads_kv, std::vector<double>(rc.len_k, 0.0));
  for (int h = 0; h < rc.heads_q; ++h)
    for (const auto& row : p[h])
      for (int t = 0; t < rc.len_k; ++t) s[h / g][t] += row[t];
  return s;
}

/// Checks that kept holds `budget` positions per KV head that are the top of `score`:
/// every kept score at least every dropped one (ties within 1e-6 may fall either way).
void check_top_budget(const std::vector<std::vector<int32_t>>& kept, const std::vector<std::vector<double>>& score, int budget) {
  for (size_t j = 0; j < kept.size(); ++j) {
    REQUIRE(static_cast<int>(kept[j].size()) == budget);
    std::vector<char> in(score[j].size(), 0);
    double min_kept = INFINITY, max_dropped = -INFINITY;
    for (int32_t t : kept[j]) in[t] = 1, min_kept = std::min(min_kept, score[j][t]);
    for (size_t t = 0; t < in.size(); ++t)
      if (!in[t]) max_dropped = std::max(max_dropped, score[j][t]);
    CHECK(min_kept >= max_dropped - 1e-6);
  }
}

uint64_t layer_bytes(const recall::RecallCase& rc, int tokens) { return rc.heads_kv * kv::token_bytes(tokens, rc.head_dim, 2); }

}  // namespace

TEST_CASE("cla: later layers of a group decode over the first layer's cache and store nothing", "[kv][cross_layer]") {
  std::vector<recall::RecallCase> rc;
  const auto runs = run_layers("cla:share=2", 4, &rc);
  for (int l = 0; l < 4; ++l) {
    INFO("layer " << l);
    const int src = l - l % 2;
    CHECK(runs[l].metrics.kv_bytes == (l == src ? layer_bytes(rc[l], kLen) : 0u));
    CHECK(runs[l].metrics.full_bytes == layer_bytes(rc[l], kLen));
    // fp64: this layer's decode queries over the source layer's whole K/V.
    recall::RecallCase mixed = rc[src];
    mixed.q_question = rc[l].q_question;
    mixed.n_questions = rc[l].n_questions;
    const auto ref = kv::reference_decode(mixed, std::vector<std::vector<int32_t>>(rc[l].heads_kv, kv::all_tokens(kLen)));
    CHECK(rel_diff(runs[l].o, ref) < 1e-4);
    // Mass kept: the share of the layer's own attention the read attention reproduces.
    const auto own = decode_probs(rc[l], rc[l]), read = decode_probs(rc[l], rc[src]);
    double mass = 0;
    int rows = 0;
    for (size_t h = 0; h < own.size(); ++h)
      for (size_t i = 0; i < own[h].size(); ++i, ++rows)
        for (int t = 0; t < kLen; ++t) mass += std::min(own[h][i][t], read[h][i][t]);
    CHECK(runs[l].metrics.mass_kept == Approx(mass / rows).epsilon(1e-9));
    if (l == src) CHECK(runs[l].metrics.output_error < 1e-5);
    else CHECK(runs[l].metrics.mass_kept < 0.9);  // another layer's keys: untrained sharing loses attention
  }
  // share=3 over 4 layers: layers 0 and 3 store; one layer is the same as full.
  const auto three = run_layers("cla:share=3", 4);
  CHECK(three[1].metrics.kv_bytes == 0);
  CHECK(three[3].metrics.kv_bytes == three[0].metrics.kv_bytes);
  const auto one = run_layers("cla", 1);
  CHECK(one[0].metrics.kv_bytes == one[0].metrics.full_bytes);
  CHECK(one[0].metrics.output_error < 1e-5);
}

TEST_CASE("tidal: layers after a selection layer keep exactly its top-budget positions", "[kv][cross_layer]") {
  std::vector<recall::RecallCase> rc;
  const int budget = 32;
  const auto runs = run_layers("tidal:budget=32", 4, &rc);  // selection layers 0 and floor(4/2) = 2
  for (int sel : {0, 2}) {
    CHECK(runs[sel].metrics.kv_bytes == layer_bytes(rc[sel], kLen));
    CHECK(runs[sel].metrics.output_error < 1e-5);  // full attention
  }
  check_top_budget(runs[1].kept, selection_scores(rc[0]), budget);
  check_top_budget(runs[3].kept, selection_scores(rc[2]), budget);
  CHECK(runs[1].kept != runs[3].kept);  // re-selected at layer 2
  for (int l : {1, 3}) {
    CHECK(runs[l].metrics.kv_bytes == layer_bytes(rc[l], budget));
    CHECK(rel_diff(runs[l].o, kv::reference_decode(rc[l], runs[l].kept)) < 1e-4);  // its own K/V at those positions
  }
  // Layer 2 retrieves the needle (layer_knobs), so layer 3 keeps it: the judged layer answers.
  CHECK(runs[3].metrics.accuracy == 1.0);

  // select=0: layer 0 selects for every later layer; two layers: no re-selection either.
  const auto only0 = run_layers("tidal:budget=32,select=0", 4);
  CHECK(only0[2].kept == only0[1].kept);
  CHECK(only0[3].kept == only0[1].kept);
  const auto two = run_layers("tidal:budget=32", 2);
  CHECK(two[1].metrics.kv_bytes < two[0].metrics.kv_bytes);
  // One layer: layer 0 selects, i.e. full attention.
  const auto one = run_layers("tidal:budget=32", 1);
  CHECK(one[0].metrics.kv_bytes == one[0].metrics.full_bytes);
  CHECK(one[0].metrics.output_error < 1e-5);
}

TEST_CASE("cross-layer methods: configs, bytes per layer and refusals", "[kv][cross_layer]") {
  CHECK(kv::make_kv_policy("cla")->config() == "cla:share=2,elem_bytes=2");
  CHECK(kv::make_kv_policy("tidal:budget=64")->config() == "tidal:budget=64,select=-1,elem_bytes=2");
  CHECK(kv::make_kv_policy("tidal")->cross_layer());
  CHECK(!kv::make_kv_policy("snapkv")->cross_layer());
  CHECK_THROWS_WITH(kv::make_kv_policy("cla:share=0"), Catch::Contains("share"));
  ab_kv_layer in{};
  in.heads_q = 4, in.heads_kv = 2, in.len_k = 1000, in.head_dim = 64, in.num_layers = 8;
  const auto cla = kv::make_kv_policy("cla:share=4"), tidal = kv::make_kv_policy("tidal:budget=100");
  for (int l = 0; l < 8; ++l) {
    in.layer = l;
    CHECK(cla->requested_bytes(in, 2) == (l % 4 == 0 ? 2 * kv::token_bytes(1000, 64, 2) : 0u));
    CHECK(tidal->requested_bytes(in, 2) == 2 * kv::token_bytes(l == 0 || l == 4 ? 1000 : 100, 64, 2));
  }
  in.layer = 1;
  CHECK_THROWS_WITH(kv::make_kv_policy("tidal:select=8")->requested_bytes(in, 2), Catch::Contains("outside the case's layers"));

  // A dependent layer run alone refuses (compress without the case's context).
  kv::KvPrimitives prims(kvtest::cpu().env);
  const recall::RecallCase rc = layer_case(1, 4);
  kv::DeviceLayer dev = kv::upload_layer(prims, rc, false, 1, 4);
  kv::PlanBuffers pb(dev.layer);
  CHECK_THROWS_WITH(cla->compress(kvtest::cpu().env, dev.layer, 2, pb.plan()), Catch::Contains("stores no cache"));
  CHECK_THROWS_WITH(tidal->compress(kvtest::cpu().env, dev.layer, 2, pb.plan()), Catch::Contains("reuses the positions"));
}

TEST_CASE("score_recall with the layer's own cache as the read cache gives the usual mass kept", "[kv][cross_layer][oracle]") {
  const recall::RecallCase rc = layer_case(3, 4);
  std::vector<std::vector<int32_t>> kept(rc.heads_kv);
  for (int j = 0; j < rc.heads_kv; ++j)
    for (int t = 0; t < kLen; t += 8) kept[j].push_back(t);
  for (int32_t t : rc.needle_positions)
    for (auto& k : kept)
      if (!std::binary_search(k.begin(), k.end(), t)) k.insert(std::upper_bound(k.begin(), k.end(), t), t);
  const auto ref = kv::reference_decode(rc, kept);
  const std::vector<float> o(ref.begin(), ref.end());
  const kv::RecallMetrics own = kv::score_recall(rc, kept, o), read = kv::score_recall(rc, kept, o, &rc);
  CHECK(own.mass_kept < 0.99);  // something dropped, so the two paths differ
  CHECK(read.mass_kept == Approx(own.mass_kept).epsilon(1e-9));
  CHECK(read.output_error == own.output_error);
  CHECK(read.accuracy == own.accuracy);
}

TEST_CASE("a CLI run of a layered suite with cla and tidal stores their bytes and accuracy", "[kv][cross_layer][cli]") {
  test::TempDir t;
  test::write_file(t / "x.json", R"({"suite": "x", "kind": "recall", "defaults": {"repetitions": 2, "axes": {"budget": 64}},
    "groups": [{"name": "n", "task": "single_needle", "axes": {"len_k": [512], "depth": [0.5], "layers": [1, 4]},
                "methods": ["full", "cla", "tidal"]}]})");
  const std::string db = t / "x.db";
  const test::CmdResult r = test::run_attnbench("run --suite " + t / "x.json --no-peaks --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto metric = [&](const std::string& method, const std::string& name, bool layered) {
    return test::query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id AND m.name = '" + name +
                                   "' WHERE c.config LIKE 'kv=" + method + "%' AND c.shape " + (layered ? "" : "NOT ") +
                                   "LIKE '%layers=4%'");
  };
  CHECK(std::stod(metric("cla", "compression_ratio", true)) == Approx(2.0));
  CHECK(std::stod(metric("cla", "compression_ratio", false)) == Approx(1.0));
  CHECK(std::stod(metric("tidal", "kv_bytes", true)) ==
        Approx(std::stod(metric("full", "kv_bytes", true)) * (2 * 512 + 2 * 64) / (4 * 512)));
  CHECK(metric("tidal", "recall_accuracy", true) == "1.0");
  CHECK(std::stod(metric("tidal", "output_error_vs_full", false)) < 1e-5);
  CHECK(!metric("cla", "recall_accuracy", true).empty());
  const test::CmdResult list = test::run_attnbench("list methods");
  CHECK(list.out.find("Cross-Layer Attention") != std::string::npos);
  CHECK(list.out.find("TidalDecode") != std::string::npos);
}
