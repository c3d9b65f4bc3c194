// Tier-3 sparse variants of the CPU backend: nsa (Native Sparse Attention), star (Star
// Attention), landmark (Landmark Attention, untrained landmarks) and routing (Routing
// Transformer k-means). Settings that keep every visible key equal exact attention; on
// small hand-built inputs each attends exactly the keys its definition names (checked
// against fp64 softmax over those keys) and counts those pairs; bad options are refused.
#include <catch2/catch.hpp>

#include <cmath>

#include "cpu_kernels.h"
#include "pair_count.h"
#include "sparse_routing.h"
#include "sparse_star.h"
#include "test_cpu_checks.h"
#include "topk_landmark.h"
#include "topk_nsa.h"

using namespace cpu_test;

namespace {

/// Exact softmax attention (fp64) of query (head 0, row i) over `keys`, with the keys
/// and values given as rows of d (defaults: the case's own).
std::vector<double> attend_keys(const Case& c, int i, const std::vector<int>& keys, const std::vector<double>* kd = nullptr,
                                const std::vector<double>* vd = nullptr) {
  const int d = c.shape.head_dim;
  const float* q = c.qf.data() + static_cast<size_t>(i) * d;
  const auto kat = [&](int t, int e) { return kd ? (*kd)[static_cast<size_t>(t) * d + e] : double(c.kf[static_cast<size_t>(t) * d + e]); };
  const auto vat = [&](int t, int e) { return vd ? (*vd)[static_cast<size_t>(t) * d + e] : double(c.vf[static_cast<size_t>(t) * d + e]); };
  std::vector<double> s, out(d, 0.0);
  double m = -1e300, sum = 0;
  for (int t : keys) {
    double x = 0;
    for (int e = 0; e < d; ++e) x += double(q[e]) * kat(t, e);
    s.push_back(x * c.args.scale);
    m = std::max(m, s.back());
  }
  for (size_t j = 0; j < keys.size(); ++j) {
    const double p = std::exp(s[j] - m);
    sum += p;
    for (int e = 0; e < d; ++e) out[e] += p * vat(keys[j], e);
  }
  for (double& x : out) x /= sum;
  return out;
}

/// Runs `variant` on c and returns the pairs it counted.
uint64_t run_counted(const char* variant, Case& c) {
  const cpu::Check r = cpu::run_variant(variant, c.args);
  INFO(variant << ": " << r.reason);
  REQUIRE(r.ok());
  const cpu::PairCount p = cpu::last_pair_count();
  REQUIRE(p.counted);
  return p.pairs;
}

}  // namespace

TEST_CASE("tier-3 sparse variants keeping every visible key equal exact attention", "[cpu][tier3]") {
  unsigned seed = 700;
  // star: one block covering the context; landmark: k above the block count; routing:
  // one cluster; nsa: the selection branch alone with every block selected, or the
  // window branch alone with a window over the whole sequence.
  for (const char* variant : {"star:block=100000", "star:block=8,query=100000", "landmark:block=8,k=1000",
                              "landmark:block=5,k=1000,per_query=1", "routing:clusters=1", "routing:clusters=1,iters=0",
                              "nsa:gate_cmp=0,gate_win=0,k=1000,select=8", "nsa:gate_cmp=0,gate_slc=0,window=100000"})
    for (auto [lq, lk] : {std::pair{37, 37}, {13, 101}, {1, 50}, {111, 111}})
      for (int hkv : {1, 2}) {
        Shape s;
        s.heads_q = 4; s.heads_kv = hkv; s.len_q = lq; s.len_k = lk; s.head_dim = 40; s.causal = true;
        expect_matches_oracle(variant, s, seed++);
      }
  // Non-causal (landmark, routing), varlen batch, 16-bit storage with softcap.
  for (const char* variant : {"landmark:block=8,k=1000", "routing:clusters=1"}) {
    Shape s;
    s.heads_q = 2; s.len_q = 29; s.len_k = 45; s.head_dim = 32;
    expect_matches_oracle(variant, s, seed++);
  }
  for (const char* variant : {"star:block=4096", "landmark:block=16,k=100", "routing:clusters=1",
                              "nsa:gate_cmp=0,gate_win=0,k=100,select=16", "nsa:gate_cmp=0,gate_slc=0,window=100"}) {
    Shape w;
    w.batch = 2; w.heads_q = 2; w.len_q = 70; w.len_k = 70; w.head_dim = 32; w.causal = true;
    w.seq_len_q = {70, 33}; w.seq_len_k = {70, 41};
    expect_matches_oracle(variant, w, seed++);
    w.seq_len_q.clear(); w.seq_len_k.clear(); w.dtype = AB_BF16; w.softcap = 5.0f;
    expect_matches_oracle(variant, w, seed++);
  }
}

TEST_CASE("star: context blocks see the anchor and themselves, the query rows see everything", "[cpu][tier3][star]") {
  using cpu::star_ranges;
  const KeyRange all{0, 16};
  // 16 tokens, blocks of 4, the last 4 are the query.
  CHECK(star_ranges(2, 16, 4, 4, {0, 3}).size() == 1);
  CHECK(star_ranges(2, 16, 4, 4, {0, 3})[0].hi == 3);
  const auto r5 = star_ranges(5, 16, 4, 4, {0, 6});  // anchor [0,4) + own [4,6): one merged range
  REQUIRE(r5.size() == 1);
  CHECK((r5[0].lo == 0 && r5[0].hi == 6));
  const auto r9 = star_ranges(9, 16, 4, 4, {0, 10});  // anchor [0,4) + own [8,10)
  REQUIRE(r9.size() == 2);
  CHECK((r9[0].lo == 0 && r9[0].hi == 4 && r9[1].lo == 8 && r9[1].hi == 10));
  const auto r13 = star_ranges(13, 16, 4, 4, {0, 14});  // phase 2: everything visible
  REQUIRE(r13.size() == 1);
  CHECK((r13[0].lo == 0 && r13[0].hi == 14));
  CHECK(star_ranges(15, 16, 4, 4, all)[0].hi == 16);

  // End to end on 1 head, 16 keys, d = 4: outputs over exactly those keys, 120 pairs
  // (block 0: 1+2+3+4, blocks 1 and 2: 4*4 + 10 each, query rows: 13+14+15+16).
  Shape s;
  s.len_q = 16; s.len_k = 16; s.head_dim = 4; s.causal = true;
  Case c = make_case(s, 21);
  CHECK(run_counted("star:block=4,query=4", c) == 120);
  for (int i = 0; i < 16; ++i) {
    std::vector<int> keys;
    if (i >= 12) keys = range(0, i + 1);
    else if (i < 4) keys = range(0, i + 1);
    else { keys = range(0, 4); for (int t = i / 4 * 4; t <= i; ++t) keys.push_back(t); }
    INFO("row " << i);
    expect_row(out_row(c, 0, i), attend_keys(c, i, keys));
  }
  // Lq < Lk (chunked prefill): positions, not rows, decide the phase.
  Shape t = s;
  t.len_q = 6;
  Case ct = make_case(t, 22);
  REQUIRE(cpu::run_variant("star:block=4,query=4", ct.args).ok());
  expect_row(out_row(ct, 0, 0), attend_keys(ct, 0, {0, 1, 2, 3, 8, 9, 10}));  // position 10
  expect_row(out_row(ct, 0, 5), attend_keys(ct, 5, range(0, 16)));            // position 15
}

TEST_CASE("landmark: the largest-norm key of a block gates it, unlike block_topk's mean", "[cpu][tier3][landmark]") {
  const std::vector<float> keys = {1, 0, 0,  3, 4, 0,  -5, 0, 0,  0, 0, 1};  // norms 1, 5, 5, 1
  CHECK(cpu::landmark_of_block(keys.data(), 4, 3) == 1);  // ties: the earlier key
  CHECK(cpu::landmark_of_block(keys.data(), 1, 3) == 0);

  // 8 blocks of 4 keys, d = 4, every query along x. Block 2: four keys (1,0,0,0) (mean
  // and landmark score 1). Block 5: one key (3,0,0,0) and three (-1.5,0,0,0): landmark
  // score 3, mean score -0.375. Other keys (0,0.2,0,0): score 0. landmark k=1 keeps
  // block 5 (block 2 for the query block 5 itself); block_topk k=1 keeps block 2 (block
  // 0, the first of the zero-score ties, for query block 2).
  Shape s;
  s.len_q = 32; s.len_k = 32; s.head_dim = 4;
  Case c = make_case(s, 31);
  std::vector<float> qv(c.qf.size(), 0.0f), kv(c.kf.size(), 0.0f);
  for (int i = 0; i < 32; ++i) qv[i * 4] = 1.0f;
  for (int t = 0; t < 32; ++t) {
    kv[t * 4 + 1] = 0.2f;
    if (t / 4 == 2) kv[t * 4] = 1.0f, kv[t * 4 + 1] = 0.0f;
    if (t / 4 == 5) kv[t * 4] = t == 20 ? 3.0f : -1.5f, kv[t * 4 + 1] = 0.0f;
  }
  set_inputs(c, qv, kv, c.vf);
  CHECK(run_counted("landmark:block=4,k=1", c) == 32 * 8);
  for (int g = 0; g < 8; ++g) {
    const int other = g == 5 ? 2 : 5;
    for (int i = 4 * g; i < 4 * g + 4; ++i) {
      INFO("landmark row " << i);
      expect_row(out_row(c, 0, i), attend_keys(c, i, keys_of({std::min(g, other), std::max(g, other)}, 4, 0, 32)));
    }
  }
  REQUIRE(cpu::run_variant("block_topk:block=4,k=1", c.args).ok());
  for (int g = 0; g < 8; ++g) {
    const int other = g == 2 ? 0 : 2;
    for (int i = 4 * g; i < 4 * g + 4; ++i) {
      INFO("block_topk row " << i);
      expect_row(out_row(c, 0, i), attend_keys(c, i, keys_of({std::min(g, other), std::max(g, other)}, 4, 0, 32)));
    }
  }
}

TEST_CASE("routing: spherical k-means clusters, attention within the own cluster", "[cpu][tier3][routing]") {
  // 16 keys, d = 4: keys along x (t even in the first half, odd in the second) or
  // along y, of different lengths, all with z = 0.05 length. Two clusters start at keys
  // 4 (x) and 12 (y), so one round splits x from y and they stay.
  Shape s;
  s.len_q = 16; s.len_k = 16; s.head_dim = 4; s.causal = true;
  Case c = make_case(s, 41);
  std::vector<float> qv(c.qf.size(), 0.0f), kv(c.kf.size(), 0.0f);
  const auto along_x = [](int t) { return t < 8 ? t % 2 == 0 : t % 2 == 1; };
  for (int t = 0; t < 16; ++t) {
    const float len = 0.5f + 0.25f * (t % 5);
    kv[t * 4 + (along_x(t) ? 0 : 1)] = len;
    kv[t * 4 + 2] = 0.05f * len;
  }
  // Queries: rows i % 3 == 0 lean to x, the others to y.
  const auto q_x = [](int i) { return i % 3 == 0; };
  for (int i = 0; i < 16; ++i) {
    if (q_x(i)) qv[i * 4] = 1.0f, qv[i * 4 + 1] = 0.3f;
    else qv[i * 4] = 0.2f, qv[i * 4 + 1] = 1.5f;
  }
  set_inputs(c, qv, kv, c.vf);
  std::vector<int> assign;
  const std::vector<float> cent = cpu::spherical_kmeans(kv.data(), 16, 4, 2, 2, assign);
  REQUIRE(assign.size() == 16);
  for (int t = 0; t < 16; ++t) {
    INFO("key " << t);
    CHECK(assign[t] == (along_x(t) ? 0 : 1));
  }
  const double n = std::sqrt(1.0 + 0.05 * 0.05);
  CHECK(cent[0] == Approx(1.0 / n));
  CHECK(cent[2] == Approx(0.05 / n));
  CHECK(cent[4 + 1] == Approx(1.0 / n));
  CHECK(cpu::nearest_centroid(qv.data(), cent.data(), 2, 4) == 0);
  CHECK(cpu::nearest_centroid(qv.data() + 4, cent.data(), 2, 4) == 1);

  // Row i attends the keys t <= i of its cluster, plus key i itself.
  uint64_t want_pairs = 0;
  std::vector<std::vector<int>> keys(16);
  for (int i = 0; i < 16; ++i) {
    for (int t = 0; t <= i; ++t)
      if (along_x(t) == q_x(i) || t == i) keys[i].push_back(t);
    want_pairs += keys[i].size();
  }
  CHECK(run_counted("routing:clusters=2", c) == want_pairs);
  for (int i = 0; i < 16; ++i) {
    INFO("row " << i);
    expect_row(out_row(c, 0, i), attend_keys(c, i, keys[i]));
  }
  // Default clusters: round(sqrt(16)) = 4, so fewer keys per row than with 2.
  CHECK(run_counted("routing", c) <= want_pairs);
}

TEST_CASE("nsa: compressed, selected and window branches, gated", "[cpu][tier3][nsa]") {
  // Top-k over the candidates other than block 0 and the local block.
  CHECK(cpu::nsa_select({0.1f, 0.5f, 0.2f, 0.9f, 0.3f}, 0, 1, 3) == std::vector<int>{0, 1, 3});
  CHECK(cpu::nsa_select({0.1f, 0.5f, 0.2f, 0.9f, 0.3f}, 0, 2, 4) == std::vector<int>{0, 1, 3, 4});
  CHECK(cpu::nsa_select({0.1f, 0.5f, 0.2f, 0.9f, 0.3f}, 2, 1, 4) == std::vector<int>{0, 3, 4});
  CHECK(cpu::nsa_select({0.4f}, 0, 3, 0) == std::vector<int>{0});
  CHECK(cpu::nsa_select({0.0f, 0.0f, 0.0f}, 0, 0, 2) == std::vector<int>{0, 2});

  // 1 head, 16 keys, d = 4; block = stride = select = 4, k = 1, window 2, equal gates.
  // Every query is along x; keys of block 2 have x = 2, others x = 0, so compressed
  // token 2 scores highest and is the selected block wherever it is a candidate.
  //  * compressed tokens: j with 4j + 3 <= p (mean key, mean value of keys 4j..4j+3);
  //  * selection: block 0, local block p / 4, and the best other visible block: 2 for
  //    p >= 12, 1 for 8 <= p < 12 (the only candidate), none before;
  //  * window: keys p - 1, p.
  Shape s;
  s.len_q = 16; s.len_k = 16; s.head_dim = 4; s.causal = true;
  Case c = make_case(s, 51);
  std::vector<float> qv(c.qf.size(), 0.0f), kv = c.kf;
  for (int i = 0; i < 16; ++i) qv[i * 4] = 1.0f;
  for (int t = 0; t < 16; ++t) kv[t * 4] = t / 4 == 2 ? 2.0f : 0.0f;
  set_inputs(c, qv, kv, c.vf);
  std::vector<double> kc(16, 0.0), vc(16, 0.0);  // 4 compressed tokens x d = 4
  for (int j = 0; j < 4; ++j)
    for (int t = 4 * j; t < 4 * j + 4; ++t)
      for (int e = 0; e < 4; ++e) kc[j * 4 + e] += c.kf[t * 4 + e] / 4.0, vc[j * 4 + e] += c.vf[t * 4 + e] / 4.0;
  uint64_t want_pairs = 0;
  std::vector<std::vector<double>> want(16);
  for (int p = 0; p < 16; ++p) {
    std::vector<int> tokens;
    for (int j = 0; 4 * j + 3 <= p; ++j) tokens.push_back(j);
    std::vector<int> blocks = {0};
    if (p >= 12) blocks.push_back(2);
    else if (p >= 8) blocks.push_back(1);
    if (p / 4 != 0 && p / 4 != blocks.back()) blocks.push_back(p / 4);
    const std::vector<int> sel = keys_of(blocks, 4, 0, p + 1);
    const std::vector<int> win = range(std::max(0, p - 1), p + 1);
    want_pairs += tokens.size() + sel.size() + win.size();
    const std::vector<double> os = attend_keys(c, p, sel), ow = attend_keys(c, p, win);
    std::vector<double> oc(4, 0.0);
    if (!tokens.empty()) oc = attend_keys(c, p, tokens, &kc, &vc);
    const double n = tokens.empty() ? 2.0 : 3.0;
    for (int e = 0; e < 4; ++e) want[p].push_back((oc[e] + os[e] + ow[e]) / n);
  }
  CHECK(run_counted("nsa:block=4,stride=4,select=4,k=1,window=2", c) == want_pairs);
  for (int p = 0; p < 16; ++p) {
    INFO("row " << p);
    expect_row(out_row(c, 0, p), want[p]);
  }

  // Gate weights: only the window branch -> exact attention over the last 2 keys.
  REQUIRE(cpu::run_variant("nsa:block=4,stride=4,select=4,k=1,window=2,gate_cmp=0,gate_slc=0", c.args).ok());
  for (int p = 0; p < 16; ++p) expect_row(out_row(c, 0, p), attend_keys(c, p, range(std::max(0, p - 1), p + 1)));
}

TEST_CASE("tier-3 sparse variants refuse bad options and non-causal cases", "[cpu][tier3]") {
  Shape s;
  s.heads_q = 2; s.len_q = 32; s.len_k = 32; s.head_dim = 32; s.causal = true;
  Case c = make_case(s, 61);
  for (auto [variant, why] : {std::pair{"nsa:stride=64", "stride 64 > block 32"},
                              {"nsa:gate_cmp=0,gate_slc=0,gate_win=0", "all three gates"},
                              {"nsa:bogus=1", "unknown option 'bogus'"}, {"star:block=0", "block=0 is outside"},
                              {"landmark:per_query=2", "per_query=2 is outside"},
                              {"routing:iters=x", "not an integer"}}) {
    const cpu::Check r = cpu::supports(variant, c.args);
    INFO(variant << ": " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find(why) != std::string::npos);
  }
  Shape n = s;
  n.causal = false;
  Case cn = make_case(n, 62);
  for (const char* v : {"nsa", "star"}) {
    const cpu::Check r = cpu::supports(v, cn.args);
    INFO(v << ": " << r.reason);
    CHECK(r.status == AB_UNSUPPORTED);
    CHECK(r.reason.find("causal") != std::string::npos);
  }
  CHECK(cpu::supports("landmark", cn.args).ok());
  CHECK(cpu::supports("routing", cn.args).ok());
}
