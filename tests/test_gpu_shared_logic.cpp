// CPU tests of the GPU backends' shared host/device logic (backends/gpu/*.h) and of
// the CPU emulation of their algorithm against the fp64 oracle. No GPU needed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "arch_match.h"
#include "capabilities.h"
#include "host_emulation.h"
#include "kernel_math.h"
#include "kv_addressing.h"
#include "launch_plan.h"
#include "mma_emulation.h"
#include "mma_fragment.h"
#include "mma_smem.h"
#include "reference_attention.h"

using namespace attnbench;
using namespace attnbench::gpu;

namespace {

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

ab_attention_args make_args(int b, int hq, int hkv, int lq, int lk, int d, int causal) {
  ab_attention_args a{};
  a.batch = b; a.heads_q = hq; a.heads_kv = hkv; a.len_q = lq; a.len_k = lk; a.head_dim = d;
  a.dtype = AB_F32; a.causal = causal; a.window_left = -1; a.window_right = -1;
  a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  return a;
}

/// A masked fp32 case of the emulation tests: sizes, causal, window, softcap.
struct EmuShape {
  int b, hq, hkv, lq, lk, d, causal, wl, wr;
  float softcap;
};

/// Random Q, K, V of an EmuShape and the fp64 oracle's output for them.
struct OracleCase {
  ab_attention_args a;
  std::vector<float> q, k, v;
  std::vector<double> ref;
};

OracleCase oracle_case(const EmuShape& s, std::mt19937& rng) {
  OracleCase c;
  c.a = make_args(s.b, s.hq, s.hkv, s.lq, s.lk, s.d, s.causal);
  c.a.window_left = s.wl; c.a.window_right = s.wr; c.a.softcap = s.softcap;
  c.q = random_vec(size_t(s.b) * s.hq * s.lq * s.d, rng);
  c.k = random_vec(size_t(s.b) * s.hkv * s.lk * s.d, rng);
  c.v = random_vec(c.k.size(), rng);
  c.ref.resize(c.q.size());
  reference_attention(c.a, c.q.data(), c.k.data(), c.v.data(), c.ref.data());
  return c;
}

/// Max abs difference over valid rows between a float output and the fp64 oracle.
double max_err(const ab_attention_args& a, const std::vector<float>& o, const std::vector<double>& ref) {
  double e = 0;
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h)
      for (int i = 0; i < effective_len_q(a, b); ++i)
        for (int c = 0; c < a.head_dim; ++c) {
          const size_t idx = q_row_offset(b, h, i, a.heads_q, a.len_q, a.head_dim) + c;
          e = std::max(e, std::abs(o[idx] - ref[idx]));
        }
  return e;
}

/// NaN outputs over valid rows (max_err's std::max skips NaN).
int nan_in_rows(const ab_attention_args& a, const std::vector<float>& o) {
  int n = 0;
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h)
      for (int i = 0; i < effective_len_q(a, b); ++i)
        for (int c = 0; c < a.head_dim; ++c)
          n += std::isnan(o[q_row_offset(b, h, i, a.heads_q, a.len_q, a.head_dim) + c]) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("LSE merge of random partitions equals the full softmax", "[gpu][math]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 300), d = 8;
    auto logits = random_vec(n, rng), vals = random_vec(static_cast<size_t>(n) * d, rng);
    for (float& x : logits) x *= 4.0f;
    // Exact softmax output.
    double mx = -INFINITY, sum = 0;
    for (float x : logits) mx = std::max(mx, double(x));
    std::vector<double> exact(d, 0.0);
    for (int j = 0; j < n; ++j) sum += std::exp(logits[j] - mx);
    for (int j = 0; j < n; ++j)
      for (int c = 0; c < d; ++c) exact[c] += std::exp(logits[j] - mx) / sum * vals[j * d + c];
    // Random cut points (empty parts allowed), each part by the online softmax.
    const int parts = 1 + static_cast<int>(rng() % 9);
    std::vector<int> cuts{0, n};
    for (int p = 1; p < parts; ++p) cuts.push_back(static_cast<int>(rng() % (n + 1)));
    std::sort(cuts.begin(), cuts.end());
    const int ns = static_cast<int>(cuts.size()) - 1;
    std::vector<float> part(static_cast<size_t>(ns) * d, 0.0f), lse(ns), w(ns);
    for (int s = 0; s < ns; ++s) {
      OnlineSoftmax st = OnlineSoftmax::start();
      std::vector<float> acc(d, 0.0f);
      for (int j = cuts[s]; j < cuts[s + 1]; ++j) {  // one key per "tile"
        const float alpha = st.rescale(logits[j]);
        for (float& x : acc) x *= alpha;
        const float p = st.prob(logits[j]);
        st.add(p);
        for (int c = 0; c < d; ++c) acc[c] += p * vals[j * d + c];
      }
      for (int c = 0; c < d; ++c) part[s * d + c] = acc[c] * st.inv_sum();
      lse[s] = st.lse();
    }
    const float total = lse_merge_weights(lse.data(), ns, w.data());
    REQUIRE(total == Approx(mx + std::log(sum)).epsilon(1e-5));
    for (int c = 0; c < d; ++c)
      REQUIRE(lse_merge_value(part.data() + c, d, w.data(), ns) == Approx(exact[c]).margin(1e-5));
  }
}

TEST_CASE("LSE merge of only empty partials is zero", "[gpu][math]") {
  const float lse[3] = {neg_inf(), neg_inf(), neg_inf()};
  const float part[3] = {0, 0, 0};
  float w[3];
  REQUIRE(lse_merge_weights(lse, 3, w) == neg_inf());
  REQUIRE(lse_merge_value(part, 1, w, 3) == 0.0f);
}

TEST_CASE("online softmax ignores fully masked tiles", "[gpu][math]") {
  OnlineSoftmax st = OnlineSoftmax::start();
  REQUIRE(st.rescale(neg_inf()) == 1.0f);
  REQUIRE(st.prob(neg_inf()) == 0.0f);
  REQUIRE(st.inv_sum() == 0.0f);
  REQUIRE(st.lse() == neg_inf());
  REQUIRE(st.rescale(2.0f) == 0.0f);  // first real tile: old (empty) accumulator is dropped
  st.add(st.prob(2.0f));
  REQUIRE(st.rescale(neg_inf()) == 1.0f);
  REQUIRE(st.lse() == Approx(2.0f));
}

TEST_CASE("paged address mapping equals contiguous", "[gpu][paged]") {
  const int B = 3, H = 2, L = 37, D = 4, P = 8, max_pages = (L + P - 1) / P;
  std::vector<int32_t> table(B * max_pages);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>((i * 7 + 3) % table.size());
  std::vector<float> contig(static_cast<size_t>(B) * H * L * D), pool(table.size() * H * P * D, -1.0f);
  for (size_t i = 0; i < contig.size(); ++i) contig[i] = static_cast<float>(i);
  const ContiguousKv ckv{H, L, D};
  const PagedKv pkv{H, P, D, max_pages, table.data()};
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < L; ++j)
        for (int c = 0; c < D; ++c) pool[pkv.row_offset(b, h, j) + c] = contig[ckv.row_offset(b, h, j) + c];
  std::vector<size_t> seen;
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < L; ++j) {
        seen.push_back(pkv.row_offset(b, h, j));
        for (int c = 0; c < D; ++c)
          REQUIRE(pool[pkv.row_offset(b, h, j) + c] == contig[ckv.row_offset(b, h, j) + c]);
      }
  std::sort(seen.begin(), seen.end());
  REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // no two keys share a slot
}

TEST_CASE("split planner covers every key exactly once", "[gpu][split]") {
  for (int lk : {1, 5, 31, 32, 33, 255, 256, 1000, 4097, 65536, 131071})
    for (int rows : {1, 8, 64, 4096})
      for (int sms : {1, 80, 132}) {
        const SplitPlan p = plan_splits(lk, rows, sms, 32, 256, kMaxSplits);
        REQUIRE(p.num_splits >= 1);
        REQUIRE(p.num_splits <= kMaxSplits);
        REQUIRE(p.keys_per_split % 32 == 0);
        std::vector<int> hits(lk, 0);
        for (int s = 0; s < p.num_splits; ++s) {
          const KeyRange r = p.keys_of(s, lk);
          REQUIRE_FALSE(r.empty());  // planner never produces a trailing empty split
          for (int j = r.lo; j < r.hi; ++j) ++hits[j];
        }
        REQUIRE(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
        // Shorter varlen sequences under the same plan are still covered exactly once.
        const int short_lk = lk / 3;
        int covered = 0;
        for (int s = 0; s < p.num_splits; ++s) covered += p.keys_of(s, short_lk).hi - p.keys_of(s, short_lk).lo;
        REQUIRE(covered == short_lk);
      }
}

TEST_CASE("grid planning handles odd and empty sizes", "[gpu][grid]") {
  REQUIRE(plan_flash_grid(2, 3, 1, 64).tiles_q == 1);
  REQUIRE(plan_flash_grid(2, 3, 64, 64).tiles_q == 1);
  REQUIRE(plan_flash_grid(2, 3, 65, 64).tiles_q == 2);
  REQUIRE(plan_flash_grid(2, 3, 1000, 16).blocks() == 63 * 6);
  REQUIRE(plan_flash_grid(1, 1, 0, 16).blocks() == 0);
  // The tile key range is the union of the rows' mask ranges, for every mask shape.
  for (int causal : {0, 1})
    for (int wl : {-1, 0, 5})
      for (int wr : {-1, 0, 3})
        for (int lq : {1, 7, 33})
          for (int lk : {1, 7, 40}) {
            const MaskHook m{causal, wl, wr};
            for (int r0 = 0; r0 < lq; r0 += 16) {
              const KeyRange t = tile_key_range(m, r0, r0 + 16, lq, lk);
              for (int i = r0; i < std::min(r0 + 16, lq); ++i) {
                const KeyRange k = m.keys_for(i, lq, lk);
                if (k.empty()) continue;
                REQUIRE(k.lo >= t.lo);
                REQUIRE(k.hi <= t.hi);
              }
              const TileSpan s = key_tiles(t, 32);
              if (!t.empty()) {
                REQUIRE(s.first * 32 <= t.lo);
                REQUIRE(s.end * 32 >= t.hi);
              }
            }
          }
}

TEST_CASE("row packing maps every (head, query) of a group once", "[gpu][grid]") {
  for (int pack : {1, 2, 4, 8})
    for (int lq : {1, 3, 16}) {
      const RowMap map{pack, lq};
      std::vector<int> seen(static_cast<size_t>(pack) * lq * 3, 0);
      for (int hb = 0; hb < 3; ++hb)
        for (int row0 = 0; row0 < map.rows(); row0 += 16) {
          const KeyRange qs = map.queries_of(row0, 16);
          for (int vr = row0; vr < std::min(row0 + 16, map.rows()); ++vr) {
            const int h = map.head(hb, vr), i = map.query(vr);
            REQUIRE(kv_head_of(h, 3 * pack, 3) == hb);  // all rows of a block share a KV head
            REQUIRE(i >= qs.lo);
            REQUIRE(i < qs.hi);
            ++seen[static_cast<size_t>(h) * lq + i];
          }
        }
      REQUIRE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
    }
}

TEST_CASE("emulated flash matches the fp64 oracle", "[gpu][emulation]") {
  std::mt19937 rng(11);
  const EmuShape shapes[] = {{1, 2, 2, 37, 37, 64, 1, -1, -1, 0},  {2, 4, 1, 5, 70, 32, 1, -1, -1, 0},
                             {1, 4, 2, 70, 5, 16, 1, -1, -1, 0},   {1, 2, 1, 33, 65, 128, 0, -1, -1, 0},
                             {1, 2, 2, 50, 50, 24, 0, 7, 2, 0},    {1, 3, 3, 40, 40, 8, 1, 9, -1, 30.0f}};
  for (const EmuShape& s : shapes) {
    const OracleCase c = oracle_case(s, rng);
    std::vector<float> o(c.q.size(), 0.0f);
    emulate_flash(c.a, c.q.data(), c.k.data(), c.v.data(), o.data(), 16, 32);
    REQUIRE(max_err(c.a, o, c.ref) < 1e-5);
  }
}

TEST_CASE("emulated flash handles varlen in the padded layout", "[gpu][emulation]") {
  std::mt19937 rng(5);
  ab_attention_args a = make_args(3, 2, 1, 20, 30, 16, 1);
  const int32_t lq[3] = {20, 7, 1}, lk[3] = {30, 9, 17};
  a.seq_len_q = lq; a.seq_len_k = lk;
  const auto q = random_vec(size_t(3) * 2 * 20 * 16, rng);
  const auto k = random_vec(size_t(3) * 1 * 30 * 16, rng), v = random_vec(k.size(), rng);
  std::vector<double> ref(q.size());
  reference_attention(a, q.data(), k.data(), v.data(), ref.data());
  std::vector<float> o(q.size(), 0.0f);
  emulate_flash(a, q.data(), k.data(), v.data(), o.data(), 16, 32);
  REQUIRE(max_err(a, o, ref) < 1e-5);
}

TEST_CASE("emulated split-K decode over paged KV matches the oracle", "[gpu][emulation]") {
  std::mt19937 rng(3);
  for (int page : {16, 32})
    for (int lq : {1, 4}) {
      const int B = 2, Hq = 4, Hkv = 2, Lk = 300, D = 32, max_pages = (Lk + page - 1) / page;
      ab_attention_args a = make_args(B, Hq, Hkv, lq, Lk, D, 1);
      const auto q = random_vec(size_t(B) * Hq * lq * D, rng);
      const auto k = random_vec(size_t(B) * Hkv * Lk * D, rng), v = random_vec(k.size(), rng);
      std::vector<double> ref(q.size());
      reference_attention(a, q.data(), k.data(), v.data(), ref.data());
      // Scatter the contiguous cache into a shuffled page pool.
      std::vector<int32_t> table(B * max_pages);
      for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>(table.size() - 1 - i);
      const ContiguousKv ckv{Hkv, Lk, D};
      const PagedKv pkv{Hkv, page, D, max_pages, table.data()};
      std::vector<float> kp(table.size() * Hkv * page * D), vp(kp.size());
      for (int b = 0; b < B; ++b)
        for (int h = 0; h < Hkv; ++h)
          for (int j = 0; j < Lk; ++j)
            for (int c = 0; c < D; ++c) {
              kp[pkv.row_offset(b, h, j) + c] = k[ckv.row_offset(b, h, j) + c];
              vp[pkv.row_offset(b, h, j) + c] = v[ckv.row_offset(b, h, j) + c];
            }
      ab_attention_args pa = a;
      pa.page_size = page; pa.max_pages_per_seq = max_pages; pa.num_pages = static_cast<int>(table.size());
      for (int sms : {1, 132}) {
        const SplitPlan plan = plan_splits(Lk, B * Hq, sms, 32, 64, kMaxSplits);
        std::vector<float> o(q.size(), 0.0f);
        emulate_decode(pa, q.data(), kp.data(), vp.data(), table.data(), o.data(), plan, 32);
        REQUIRE(max_err(a, o, ref) < 1e-5);
        emulate_decode(a, q.data(), k.data(), v.data(), nullptr, o.data(), plan, 32);
        REQUIRE(max_err(a, o, ref) < 1e-5);
      }
    }
}

TEST_CASE("capabilities are declared with reasons", "[gpu][caps]") {
  ab_attention_args a = make_args(1, 8, 2, 128, 128, 128, 1);
  REQUIRE(unsupported_reason("flash", a) == nullptr);
  REQUIRE(unsupported_reason("tree", a) != nullptr);  // not a GPU variant
  REQUIRE(unsupported_reason("decode", a) != nullptr);  // 128 queries
  a.len_q = 1;
  REQUIRE(unsupported_reason("decode", a) == nullptr);
  a.head_dim = 256;
  REQUIRE(std::string(unsupported_reason("flash", a)).find("head_dim") != std::string::npos);
  // A value head dim and an lse output the kernels would ignore are refused, not dropped.
  a.head_dim = 128; a.head_dim_v = 64;
  for (const char* v : {"flash", "decode", "naive"})
    REQUIRE(std::string(unsupported_reason(v, a)).find("head_dim_v") != std::string::npos);
  a.head_dim_v = 128;  // equal to head_dim: the same as 0
  REQUIRE(unsupported_reason("decode", a) == nullptr);
  a.head_dim_v = 0;
  float lse_slot = 0;
  a.lse = reinterpret_cast<ab_buffer>(&lse_slot);
  for (const char* v : {"flash", "decode", "naive"})
    REQUIRE(std::string(unsupported_reason(v, a)).find("lse") != std::string::npos);
  a.lse = nullptr;
  // supports() is asked before allocation: paged args with a null block table are fine.
  a.head_dim = 128; a.page_size = 16; a.max_pages_per_seq = 8; a.num_pages = 8;
  REQUIRE(invalid_reason(a) == nullptr);
  REQUIRE(unsupported_reason("decode", a) == nullptr);
  REQUIRE(unsupported_reason("flash", a) != nullptr);  // paged KV is a decode feature
  a.max_pages_per_seq = 7;
  REQUIRE(invalid_reason(a) != nullptr);  // 7 pages of 16 < 128 keys
  a.page_size = 0; a.heads_kv = 3;
  REQUIRE(invalid_reason(a) != nullptr);
  a.heads_kv = 2; a.len_q = 0;
  REQUIRE(invalid_reason(a) == nullptr);  // empty cases are valid (nothing to compute)
  REQUIRE(unsupported_reason("naive", a) == nullptr);
  a.len_q = 100; a.len_k = 300; a.batch = 2; a.heads_q = 8; a.dtype = AB_BF16;
  REQUIRE(naive_workspace_bytes(a) == size_t(2) * 8 * 100 * 300 * 2);  // S in the working dtype
  REQUIRE(use_tensor_cores(true, 9, AB_BF16, 128));
  REQUIRE_FALSE(use_tensor_cores(true, 9, AB_F32, 128));  // fp32 stays true fp32 (no TF32)
  REQUIRE_FALSE(use_tensor_cores(false, 9, AB_BF16, 128));
  REQUIRE_FALSE(use_tensor_cores(true, 7, AB_F16, 64));
}

namespace {

/// Every logical block of g folds to a distinct launched block and unfolds back.
void check_round_trip(const GridFold& g, BlockIdx3 b) {
  long long bx = -1, by = -1;
  g.fold(b, bx, by);
  REQUIRE(bx >= 0);
  REQUIRE(bx < g.gx);
  REQUIRE(by >= 0);
  REQUIRE(by < g.gy);
  BlockIdx3 u{-1, -1, -1};
  REQUIRE(g.unfold(bx, by, u));
  REQUIRE(u.x == b.x);
  REQUIRE(u.y == b.y);
  REQUIRE(u.z == b.z);
}

}  // namespace

TEST_CASE("grid folding maps every logical block once (small grid.x caps)", "[gpu][grid]") {
  for (int nx : {1, 3, 7})
    for (int ny : {1, 2, 5})
      for (int nz : {1, 4, 9})
        for (long long cap : {1LL, 2LL, 5LL, 16LL, 1000LL}) {
          const GridFold g = fold_grid(nx, ny, nz, cap);
          INFO(nx << "x" << ny << "x" << nz << " cap " << cap);
          REQUIRE(g.gx >= 1);
          REQUIRE(g.gx <= cap);
          REQUIRE(g.gx * g.gy >= g.blocks());
          REQUIRE(g.gx * (g.gy - 1) < g.blocks());  // no launched row is all tail
          std::set<long long> ids;
          int valid = 0;
          for (long long by = 0; by < g.gy; ++by)
            for (long long bx = 0; bx < g.gx; ++bx) {
              BlockIdx3 u{};
              if (!g.unfold(bx, by, u)) {
                REQUIRE(g.linear(bx, by) >= g.blocks());  // only the tail exits
                continue;
              }
              ++valid;
              REQUIRE((u.x >= 0 && u.x < nx && u.y >= 0 && u.y < ny && u.z >= 0 && u.z < nz));
              // x fastest, then y, then z: the order of an unfolded (nx, ny, nz) launch.
              REQUIRE(g.linear(bx, by) == (static_cast<long long>(u.z) * ny + u.y) * nx + u.x);
              ids.insert((static_cast<long long>(u.z) * ny + u.y) * nx + u.x);
            }
          REQUIRE(valid == g.blocks());
          REQUIRE(static_cast<long long>(ids.size()) == g.blocks());
          for (int z = 0; z < nz; ++z)
            for (int y = 0; y < ny; ++y)
              for (int x = 0; x < nx; ++x) check_round_trip(g, BlockIdx3{x, y, z});
        }
}

TEST_CASE("launch planner folds batch * heads beyond 65535 into grid.x", "[gpu][grid]") {
  // Grid.x limits: CUDA's 2^31 - 1 blocks, HIP's 2^32 work-items, the device's own.
  REQUIRE(max_grid_x(1, 0) == 0x7fffffffLL);
  REQUIRE(max_grid_x(256, 0) == 0x7fffffffLL / 256);
  REQUIRE(max_grid_x(128, 0x7fffffffLL) == 0x7fffffffLL / 128);
  REQUIRE(max_grid_x(128, 4096) == 4096);
  struct Launch { const char* what; int nx, ny, nz, threads; };
  const Launch launches[] = {
      {"simt flash, heads_q 70000", 3, 70000, 1, 128},           // grid.y was heads
      {"simt flash, batch 100000", 8, 32, 100000, 128},          // grid.z was batch
      {"decode splits, b 2 x hkv 40000", 1 * 64, 40000, 2, 256}, // 64 splits
      {"mma flash, batch 70000", 2, 1, 70000, kMmaThreads},
      {"naive S, B*Hq 131072", 4, 2, 131072, 256},               // grid.z was batch*heads_q
      {"naive PV, B*Hq 4194304", 8, 1, 4194304, 256},
      {"merge / softmax rows", 16, 65600, 66000, 256},           // > 2^31 blocks: spills into grid.y
  };
  std::mt19937 rng(17);
  for (const Launch& l : launches) {
    INFO(l.what);
    const GridFold g = fold_grid(l.nx, l.ny, l.nz, max_grid_x(l.threads, 0x7fffffffLL));
    REQUIRE(g.fits());
    REQUIRE(g.gx * l.threads <= 0xffffffffLL);  // within HIP's work-item limit too
    REQUIRE(g.gy <= kMaxGridYZ);
    REQUIRE(g.blocks() == static_cast<long long>(l.nx) * l.ny * l.nz);
    // Corners and random blocks round-trip; the first block past the end exits.
    for (BlockIdx3 b : {BlockIdx3{0, 0, 0}, BlockIdx3{l.nx - 1, l.ny - 1, l.nz - 1},
                        BlockIdx3{0, l.ny - 1, 0}, BlockIdx3{l.nx - 1, 0, l.nz - 1},
                        BlockIdx3{0, 65535 % l.ny, 65535 % l.nz}, BlockIdx3{0, 0, 65536 % l.nz}})
      check_round_trip(g, b);
    for (int t = 0; t < 2000; ++t)
      check_round_trip(g, BlockIdx3{static_cast<int>(rng() % l.nx), static_cast<int>(rng() % l.ny),
                                    static_cast<int>(rng() % l.nz)});
    BlockIdx3 u{};
    const long long end = g.blocks();
    REQUIRE_FALSE(g.unfold(end % g.gx, end / g.gx, u));
  }
  // Beyond what folding can express (grid.y > 65535 rows of 2^31 - 1 blocks): refused.
  REQUIRE_FALSE(fold_grid(INT_MAX, INT_MAX, 2, max_grid_x(1, 0)).fits());
  // Empty grids launch nothing.
  REQUIRE(fold_grid(0, 5, 5, 1000).blocks() == 0);
  REQUIRE(fold_grid(0, 5, 5, 1000).gx == 0);
}

TEST_CASE("naive reads only each sequence's keys (NaN padding stays out of O)", "[gpu][naive]") {
  const int32_t lens[3] = {50, 9, 0};
  REQUIRE(seq_keys(lens, 1, 50) == 9);
  REQUIRE(seq_keys(lens, 2, 50) == 0);
  REQUIRE(seq_keys(nullptr, 2, 50) == 50);
  std::mt19937 rng(23);
  for (int causal : {0, 1}) {
    ab_attention_args a = make_args(3, 4, 2, 20, 50, 16, causal);
    const int32_t lq[3] = {20, 7, 1}, lk[3] = {50, 9, 23};
    a.seq_len_q = lq; a.seq_len_k = lk;
    const auto q = random_vec(size_t(3) * 4 * 20 * 16, rng);
    auto k = random_vec(size_t(3) * 2 * 50 * 16, rng), v = random_vec(k.size(), rng);
    const ContiguousKv kv{2, 50, 16};
    for (int b = 0; b < 3; ++b)
      for (int h = 0; h < 2; ++h)
        for (int j = lk[b]; j < 50; ++j)
          for (int c = 0; c < 16; ++c) {
            k[kv.row_offset(b, h, j) + c] = NAN;
            v[kv.row_offset(b, h, j) + c] = (j % 2) ? NAN : INFINITY;
          }
    std::vector<double> ref(q.size());
    reference_attention(a, q.data(), k.data(), v.data(), ref.data());
    std::vector<float> o(q.size(), 0.0f);
    emulate_naive(a, q.data(), k.data(), v.data(), o.data());
    INFO("causal " << causal);
    REQUIRE(max_err(a, o, ref) < 1e-5);  // a NaN anywhere in a valid row fails this too
    for (int b = 0; b < 3; ++b)
      for (int h = 0; h < 4; ++h)
        for (int i = 0; i < lq[b]; ++i)
          for (int c = 0; c < 16; ++c) REQUIRE(std::isfinite(o[q_row_offset(b, h, i, 4, 20, 16) + c]));
  }
  // Without varlen the emulation equals the oracle as well.
  ab_attention_args a = make_args(2, 2, 1, 13, 40, 8, 1);
  const auto q = random_vec(size_t(2) * 2 * 13 * 8, rng);
  const auto k = random_vec(size_t(2) * 1 * 40 * 8, rng), v = random_vec(k.size(), rng);
  std::vector<double> ref(q.size());
  reference_attention(a, q.data(), k.data(), v.data(), ref.data());
  std::vector<float> o(q.size(), 0.0f);
  emulate_naive(a, q.data(), k.data(), v.data(), o.data());
  REQUIRE(max_err(a, o, ref) < 1e-5);
}

TEST_CASE("paged offsets follow the HND and NHD page layouts", "[gpu][paged]") {
  const int H = 3, P = 4, D = 5, max_pages = 3;
  const std::vector<int32_t> table = {2, 0, 5, 1, 4, 3};  // 2 sequences x 3 pages
  const PagedKv hnd{H, P, D, max_pages, table.data()};  // default: AB_KV_HND
  const PagedKv nhd{H, P, D, max_pages, table.data(), AB_KV_NHD};
  REQUIRE(hnd.layout == AB_KV_HND);
  std::set<size_t> seen_hnd, seen_nhd;
  for (int b = 0; b < 2; ++b)
    for (int hk = 0; hk < H; ++hk)
      for (int j = 0; j < max_pages * P; ++j) {
        const size_t page = static_cast<size_t>(table[b * max_pages + j / P]), slot = j % P;
        // FlashInfer HND: [num_pages, heads_kv, page_size, d].
        REQUIRE(hnd.row_offset(b, hk, j) == ((page * H + hk) * P + slot) * D);
        // vLLM / FA2 (FlashInfer NHD): [num_pages, page_size, heads_kv, d].
        REQUIRE(nhd.row_offset(b, hk, j) == ((page * P + slot) * H + hk) * D);
        seen_hnd.insert(hnd.row_offset(b, hk, j));
        seen_nhd.insert(nhd.row_offset(b, hk, j));
      }
  // Both are bijections onto the rows of the 6-page pool.
  REQUIRE(seen_hnd.size() == size_t(6) * H * P);
  REQUIRE(seen_nhd == seen_hnd);
  // NHD: the heads of one token are adjacent rows; HND: the slots of one head are.
  REQUIRE(nhd.row_offset(0, 1, 5) - nhd.row_offset(0, 0, 5) == size_t(D));
  REQUIRE(hnd.row_offset(0, 0, 5) - hnd.row_offset(0, 0, 4) == size_t(D));
}

TEST_CASE("emulated decode over an NHD (vLLM) page pool matches the oracle", "[gpu][paged][emulation]") {
  std::mt19937 rng(29);
  const int B = 2, Hq = 8, Hkv = 2, Lk = 200, D = 32, page = 16, max_pages = (Lk + page - 1) / page;
  for (int lq : {1, 3}) {
    ab_attention_args a = make_args(B, Hq, Hkv, lq, Lk, D, 1);
    const int32_t lk[2] = {200, 77};
    a.seq_len_k = lk;
    const auto q = random_vec(size_t(B) * Hq * lq * D, rng);
    const auto k = random_vec(size_t(B) * Hkv * Lk * D, rng), v = random_vec(k.size(), rng);
    std::vector<double> ref(q.size());
    reference_attention(a, q.data(), k.data(), v.data(), ref.data());
    std::vector<int32_t> table(B * max_pages);
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int32_t>((i * 5 + 2) % table.size());
    const ContiguousKv ckv{Hkv, Lk, D};
    const PagedKv pkv{Hkv, page, D, max_pages, table.data(), AB_KV_NHD};
    std::vector<float> kp(table.size() * Hkv * page * D, NAN), vp(kp.size(), NAN);  // unmapped: NaN
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < Hkv; ++h)
        for (int j = 0; j < lk[b]; ++j)
          for (int c = 0; c < D; ++c) {
            kp[pkv.row_offset(b, h, j) + c] = k[ckv.row_offset(b, h, j) + c];
            vp[pkv.row_offset(b, h, j) + c] = v[ckv.row_offset(b, h, j) + c];
          }
    ab_attention_args pa = a;
    pa.page_size = page; pa.max_pages_per_seq = max_pages; pa.num_pages = static_cast<int>(table.size());
    pa.kv_layout = AB_KV_NHD;
    REQUIRE(invalid_reason(pa) == nullptr);
    REQUIRE(unsupported_reason("decode", pa) == nullptr);
    for (int sms : {1, 132}) {
      const SplitPlan plan = plan_splits(Lk, B * Hq, sms, 32, 64, kMaxSplits);
      std::vector<float> o(q.size(), 0.0f);
      emulate_decode(pa, q.data(), kp.data(), vp.data(), table.data(), o.data(), plan, 32);
      REQUIRE(max_err(a, o, ref) < 1e-5);
      // The same pool read as HND is a different cache: the layout field matters.
      pa.kv_layout = AB_KV_HND;
      emulate_decode(pa, q.data(), kp.data(), vp.data(), table.data(), o.data(), plan, 32);
      REQUIRE_FALSE(max_err(a, o, ref) < 1e-3);
      pa.kv_layout = AB_KV_NHD;
    }
  }
}

TEST_CASE("kv_layout is validated and keeps the ABI struct layout", "[gpu][paged][caps]") {
  ab_attention_args a = make_args(1, 4, 2, 1, 64, 64, 1);
  a.page_size = 16; a.max_pages_per_seq = 4; a.num_pages = 4;
  a.kv_layout = 2;
  REQUIRE(invalid_reason(a) != nullptr);
  a.kv_layout = AB_KV_NHD;
  REQUIRE(invalid_reason(a) == nullptr);
  a.page_size = 0; a.kv_layout = 7;  // ignored without paging
  REQUIRE(invalid_reason(a) == nullptr);
  REQUIRE(ab_attention_args{}.kv_layout == AB_KV_HND);  // value-initialised callers get HND
  if (sizeof(void*) == 8) {
    // The field lives in former padding: size and every other offset are unchanged.
    REQUIRE(sizeof(ab_attention_args) == 136);
    REQUIRE(offsetof(ab_attention_args, head_dim_v) == 120);
    REQUIRE(offsetof(ab_attention_args, kv_layout) == 124);
    REQUIRE(offsetof(ab_attention_args, lse) == 128);
    REQUIRE(offsetof(ab_backward_args, d_o) == 136);
  }
}

TEST_CASE("HIP device architecture is matched against the built targets", "[gpu][hip]") {
  REQUIRE(split_targets("gfx90a,gfx908;gfx1030") == std::vector<std::string>{"gfx90a", "gfx908", "gfx1030"});
  REQUIRE(split_targets(" gfx90a , ,gfx908 ") == std::vector<std::string>{"gfx90a", "gfx908"});
  REQUIRE(split_targets("").empty());
  REQUIRE(split_targets(nullptr).empty());
  REQUIRE(arch_base("gfx90a:sramecc+:xnack-") == "gfx90a");
  REQUIRE(arch_base("gfx1030") == "gfx1030");
  REQUIRE(arch_features("gfx90a:sramecc+:xnack-") == std::vector<std::string>{"sramecc+", "xnack-"});
  REQUIRE(arch_features("gfx1030").empty());

  const char* built = "gfx90a,gfx908,gfx1030";
  for (const char* ok : {"gfx90a:sramecc+:xnack-", "gfx90a:sramecc-:xnack+", "gfx90a", "gfx908:sramecc+:xnack-",
                         "gfx1030"})
    REQUIRE(arch_mismatch(ok, built).empty());
  for (const char* no : {"gfx942:sramecc+:xnack-", "gfx1100", "gfx90", "gfx90a0", "", "gfx1031"}) {
    const std::string why = arch_mismatch(no, built);
    INFO(no << ": " << why);
    REQUIRE_FALSE(why.empty());
    REQUIRE(why.find("gfx90a, gfx908, gfx1030") != std::string::npos);
  }
  const std::string why = arch_mismatch("gfx942:sramecc+:xnack-", built);
  REQUIRE(why.find("device is gfx942 (gfx942:sramecc+:xnack-)") == 0);
  REQUIRE(why.find("ATTNBENCH_HIP_ARCHITECTURES=gfx942") != std::string::npos);
  // A feature the build pins must match; one it leaves out accepts either setting.
  REQUIRE(target_runs_on("gfx90a:xnack+", "gfx90a:sramecc+:xnack+"));
  REQUIRE_FALSE(target_runs_on("gfx90a:xnack+", "gfx90a:sramecc+:xnack-"));
  REQUIRE(target_runs_on("gfx90a:xnack+", "gfx90a"));  // device reports no features
  REQUIRE(arch_mismatch("gfx90a:sramecc+:xnack-", "gfx90a:xnack+").size() > 0);
  REQUIRE(arch_mismatch("gfx90a:sramecc+:xnack-", "gfx90a:xnack+,gfx90a:xnack-").empty());
  REQUIRE_FALSE(arch_mismatch("gfx90a", "").empty());
}

namespace {

/// The PTX ISA tables for mma.m16n8k16 (.f16/.bf16 A and B, .f32 C/D), spelled out case by
/// case as the ISA writes them, independently of mma_fragment.h's bit arithmetic.
FragCoord isa_a(int lane, int i) {
  const int group = lane / 4, tig = lane % 4;
  const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? group : group + 8;
  const int col = i < 4 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8;
  return {row, col};
}
FragCoord isa_b(int lane, int i) {
  const int group = lane / 4, tig = lane % 4;
  return {i < 2 ? tig * 2 + (i & 1) : tig * 2 + (i & 1) + 8, group};
}
FragCoord isa_c(int lane, int i) {
  const int group = lane / 4, tig = lane % 4;
  return {i < 2 ? group : group + 8, tig * 2 + (i & 1)};
}

/// Every (row, col) of a rows x cols fragment is held by exactly one (lane, element) under
/// `coord`, and `coord` equals the ISA formula `isa` everywhere.
template <class F, class G>
void check_fragment(const char* what, int rows, int cols, int elems, F coord, G isa) {
  INFO(what);
  std::vector<int> owners(static_cast<size_t>(rows) * cols, 0);
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int i = 0; i < elems; ++i) {
      const FragCoord c = coord(lane, i), r = isa(lane, i);
      INFO("lane " << lane << " element " << i);
      CHECK(c.row == r.row);
      CHECK(c.col == r.col);
      REQUIRE((c.row >= 0 && c.row < rows && c.col >= 0 && c.col < cols));
      ++owners[static_cast<size_t>(c.row) * cols + c.col];
    }
  CHECK(kMmaLanes * elems == rows * cols);
  for (int x : owners) CHECK(x == 1);
}

}  // namespace

TEST_CASE("mma.m16n8k16 fragments follow the PTX ISA tables", "[gpu][mma]") {
  CHECK(mma_group_id(29) == 7);
  CHECK(mma_thread_in_group(29) == 1);
  check_fragment("A 16x16", kMmaM, kMmaK, kMmaAElems, mma_a_coord, isa_a);
  check_fragment("B 16x8 (k x n)", kMmaK, kMmaN, kMmaBElems, mma_b_coord, isa_b);
  check_fragment("C/D 16x8", kMmaM, kMmaN, kMmaCElems, mma_c_coord, isa_c);

  for (int lane = 0; lane < kMmaLanes; ++lane) {
    INFO("lane " << lane);
    // A .b32 register packs elements 2r (low) and 2r + 1 (high): adjacent columns of A,
    // adjacent k rows of B, adjacent columns of C; the pair helpers address the first.
    for (int reg = 0; reg < kMmaAElems / 2; ++reg) {
      const FragCoord p = mma_a_pair(lane, reg), lo = isa_a(lane, 2 * reg), hi = isa_a(lane, 2 * reg + 1);
      CHECK((p.row == lo.row && p.col == lo.col && hi.row == lo.row && hi.col == lo.col + 1));
      CHECK(p.col % 2 == 0);  // a 32-bit aligned load of a row-major 16-bit matrix
    }
    for (int reg = 0; reg < kMmaBElems / 2; ++reg) {
      const FragCoord p = mma_b_pair(lane, reg), lo = isa_b(lane, 2 * reg), hi = isa_b(lane, 2 * reg + 1);
      CHECK((p.row == lo.row && p.col == lo.col && hi.col == lo.col && hi.row == lo.row + 1));
      CHECK(p.row % 2 == 0);  // k pairs are contiguous in sK rows and in sVt rows
    }
    for (int half = 0; half < 2; ++half) {
      const FragCoord p = mma_c_pair(lane, half), lo = isa_c(lane, 2 * half), hi = isa_c(lane, 2 * half + 1);
      CHECK((p.row == lo.row && p.col == lo.col && hi.row == lo.row && hi.col == lo.col + 1));
    }
    // Accumulator e belongs to row rows[e >> 1] of the kernel (mask and softmax index).
    for (int e = 0; e < kMmaCElems; ++e) CHECK(mma_c_coord(lane, e).row == mma_c_pair(lane, e >> 1).row);
    // P reuse: A element i of k-chunk kc is, in the same lane, the S accumulator of the
    // same query row and the same key.
    for (int kc = 0; kc < kMmaBlockN / kMmaK; ++kc)
      for (int i = 0; i < kMmaAElems; ++i) {
        const int tile = mma_p_source_tile(kc, i), e = mma_p_source_elem(i);
        REQUIRE((tile >= 0 && tile < kMmaBlockN / kMmaN && e >= 0 && e < kMmaCElems));
        const FragCoord a = isa_a(lane, i), c = isa_c(lane, e);
        CHECK(a.row == c.row);
        CHECK(kc * kMmaK + a.col == tile * kMmaN + c.col);  // key index within the tile
      }
  }
  // Every A element of every k-chunk has exactly one source accumulator.
  std::set<std::pair<int, int>> sources;
  for (int kc = 0; kc < kMmaBlockN / kMmaK; ++kc)
    for (int i = 0; i < kMmaAElems; ++i) sources.insert({mma_p_source_tile(kc, i), mma_p_source_elem(i)});
  CHECK(sources.size() == size_t(kMmaBlockN / kMmaN) * kMmaCElems);
}

TEST_CASE("the MMA flash tile gives every query row of a block to one warp's lane quad", "[gpu][mma]") {
  CHECK(kMmaBlockM == kMmaWarps * kMmaM);
  CHECK(kMmaBlockN % kMmaK == 0);
  for (int row0 : {0, kMmaBlockM, 7 * kMmaBlockM}) {
    std::vector<int> lanes(kMmaBlockM, 0), warp_of(kMmaBlockM, -1);
    for (int warp = 0; warp < kMmaWarps; ++warp)
      for (int lane = 0; lane < kMmaLanes; ++lane)
        for (int half = 0; half < 2; ++half) {
          const int r = mma_tile_row(row0, warp, lane, half) - row0;
          REQUIRE((r >= 0 && r < kMmaBlockM));
          ++lanes[r];
          CHECK((warp_of[r] == -1 || warp_of[r] == warp));
          warp_of[r] = warp;
          // The quad sharing a row is lanes 4 * groupID .. + 3 (the softmax's xor 1, 2 shuffles).
          CHECK(r % kMmaM % 8 == lane / 4);
        }
    for (int r = 0; r < kMmaBlockM; ++r) CHECK(lanes[r] == 4);
  }
}

namespace {

/// What ldmatrix.m8n8.x4 delivers per the PTX ISA text, independently of mma_fragment.h:
/// lane L's register i, half h, is element (row L / 4, column 2 * (L % 4) + h) of matrix
/// i, or (2 * (L % 4) + h, L / 4) with .trans, where row j of matrix i is the 16 bytes at
/// the address lane 8i + j supplies; `src(lane)` is that address as a (row, column) of the
/// stored tile. Returns the stored (row, column) the element comes from.
template <class Src>
FragCoord isa_ldmatrix(int lane, int reg, int half, bool trans, Src src) {
  const int group = lane / 4, tig = lane % 4;
  const int row = trans ? tig * 2 + half : group, col = trans ? group : tig * 2 + half;
  const FragCoord start = src(8 * reg + row);
  return {start.row, start.col + col};
}

/// Under mma_fragment.h's model (ldsm_matrix_of, ldsm_row_of, ldsm_elem): the lane whose
/// address supplies element `half` of register `reg` of `lane` (as .row) and the element's
/// column within that 16-byte row segment (as .col).
FragCoord model_supplier(int lane, int reg, int half, bool trans) {
  const FragCoord e = ldsm_elem(lane, half, trans);
  for (int s = 0; s < kMmaLanes; ++s)
    if (ldsm_matrix_of(s) == reg && ldsm_row_of(s) == e.row) return {s, e.col};
  return {-1, -1};
}

/// isa_ldmatrix through the model.
template <class Src>
FragCoord model_ldmatrix(int lane, int reg, int half, bool trans, Src src) {
  const FragCoord s = model_supplier(lane, reg, half, trans);
  return {src(s.row).row, src(s.row).col + s.col};
}

bool same(FragCoord a, FragCoord b) { return a.row == b.row && a.col == b.col; }

/// 32-bit bank of element `off` of a 16-bit array whose base is 128-byte aligned.
int bank_of(int off) { return off * 2 / 4 % 32; }

/// Banks one 8-lane phase of an ldmatrix touches when lanes 8m .. 8m + 7 read the 16-byte
/// row segments at `offset(lane)`; conflict-free means 32 distinct banks.
template <class Off>
size_t phase_banks(int m, Off offset) {
  std::set<int> banks;
  for (int r = 0; r < 8; ++r)
    for (int w = 0; w < 4; ++w) banks.insert(bank_of(offset(8 * m + r)) + w);
  return banks.size();
}

/// Every ldmatrix.x4 the kernel issues on one operand (`offset(i, j, lane)` for its loop
/// indices i < ni, j < nj, a region at `base`) is 16-byte aligned and conflict-free in all
/// four phases.
template <class Off>
void check_ldmatrix_banks(const char* what, int base, int ni, int nj, Off offset) {
  INFO(what);
  for (int i = 0; i < ni; ++i)
    for (int j = 0; j < nj; ++j) {
      auto at = [&](int lane) { return base + offset(i, j, lane); };
      for (int lane = 0; lane < kMmaLanes; ++lane) REQUIRE(at(lane) % kChunkElems == 0);
      for (int m = 0; m < 4; ++m) CHECK(phase_banks(m, at) == 32);
    }
}

/// Element (half) of register `reg` that `lane` receives from an ldmatrix.x4 over a tile
/// whose element at offset o holds code[o], the supplying lanes' offsets from `offset`
/// (through mma_fragment.h's model).
template <class Off>
int ldmatrix_code(const std::vector<int>& code, int lane, int reg, int half, bool trans, Off offset) {
  const FragCoord s = model_supplier(lane, reg, half, trans);
  return code[offset(s.row) + s.col];
}

}  // namespace

TEST_CASE("ldmatrix.x4 gives each lane exactly the mma fragments of Q, K and V", "[gpu][mma][ldmatrix]") {
  for (int lane = 0; lane < kMmaLanes; ++lane)
    for (int reg = 0; reg < 4; ++reg)
      for (int half = 0; half < 2; ++half) {
        INFO("lane " << lane << " register " << reg << " half " << half);
        // Q [row][dim] as A (16 rows x 16 dims): register reg packs a(2 reg), a(2 reg + 1).
        const FragCoord q = isa_ldmatrix(lane, reg, half, false, ldsm_q_src);
        CHECK(same(q, isa_a(lane, 2 * reg + half)));
        CHECK(same(q, model_ldmatrix(lane, reg, half, false, ldsm_q_src)));
        // B element of register reg & 1 of n-tile (K) or dim tile (V) reg >> 1.
        const FragCoord b = isa_b(lane, 2 * (reg & 1) + half);  // (k, n)
        // K [key][dim], no .trans: B(k, n) = K[n][k], keys of n-tile reg >> 1.
        const FragCoord k = isa_ldmatrix(lane, reg, half, false, ldsm_k_src);
        CHECK(k.row == 8 * (reg >> 1) + b.col);
        CHECK(k.col == b.row);
        CHECK(same(k, model_ldmatrix(lane, reg, half, false, ldsm_k_src)));
        // V [key][dim] row-major, .trans: B(k, n) = V[k][n], dims of dim tile reg >> 1.
        const FragCoord v = isa_ldmatrix(lane, reg, half, true, ldsm_v_src);
        CHECK(v.row == b.row);
        CHECK(v.col == 8 * (reg >> 1) + b.col);
        CHECK(same(v, model_ldmatrix(lane, reg, half, true, ldsm_v_src)));
        // The register's low half is the pair mma_a_pair / mma_b_pair address, its high
        // half the next column (A) or k row (B).
        const FragCoord ap = mma_a_pair(lane, reg), bp = mma_b_pair(lane, reg & 1);
        CHECK((q.row == ap.row && q.col == ap.col + half));
        CHECK((k.row == 8 * (reg >> 1) + bp.col && k.col == bp.row + half));
        CHECK((v.row == bp.row + half && v.col == 8 * (reg >> 1) + bp.col));
      }
  // Each lane addresses the start of a 16-byte row segment inside the 16x16 tile, and the
  // 32 lanes address 32 different segments.
  for (auto src : {ldsm_q_src, ldsm_k_src, ldsm_v_src}) {
    std::set<std::pair<int, int>> segs;
    for (int lane = 0; lane < kMmaLanes; ++lane) {
      const FragCoord s = src(lane);
      CHECK((s.row >= 0 && s.row < 16 && (s.col == 0 || s.col == 8)));
      segs.insert({s.row, s.col});
    }
    CHECK(segs.size() == size_t(kMmaLanes));
  }
}

TEST_CASE("the MMA kernel's swizzled shared memory is conflict-free for ldmatrix and cp.async", "[gpu][mma][smem]") {
  for (int d : {64, 128}) {
    INFO("d " << d);
    const MmaSmem sm{d};
    // Regions in order, 128-byte aligned, no overlap; fits the smallest sm_80+ opt-in
    // (99 KB on sm_86 / sm_89).
    CHECK(sm.q() == 0);
    CHECK(sm.k(0) == kMmaBlockM * d);
    CHECK(sm.k(1) == sm.k(0) + kMmaBlockN * d);
    CHECK(sm.v(0) == sm.k(1) + kMmaBlockN * d);
    CHECK(sm.v(1) == sm.v(0) + kMmaBlockN * d);
    CHECK(sm.elems() == sm.v(1) + kMmaBlockN * d);
    for (int off : {sm.k(0), sm.k(1), sm.v(0), sm.v(1)}) CHECK(off * 2 % 128 == 0);
    CHECK(sm.bytes() <= 99 * 1024);
    // The swizzle permutes 16-byte chunks within each row: a bijection on the tile that
    // keeps each chunk's eight elements contiguous.
    std::vector<int> hits(static_cast<size_t>(kMmaBlockM) * d, 0);
    for (int r = 0; r < kMmaBlockM; ++r)
      for (int c = 0; c < d; ++c) {
        const int off = swizzled_offset(r, c, d);
        REQUIRE((off >= r * d && off < (r + 1) * d));
        ++hits[off];
        CHECK(off - swizzled_offset(r, c - c % kChunkElems, d) == c % kChunkElems);
      }
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    // ldmatrix reads as the kernel issues them: Q per warp and 16-dim chunk, K per 16 keys
    // and 16-dim chunk, V (.trans) per 16 keys and 16 dims, in both stages.
    check_ldmatrix_banks("Q", sm.q(), kMmaWarps, d / kMmaK,
                         [&](int w, int kc, int lane) { return ldsm_q_offset(w, kc, lane, d); });
    for (int stage = 0; stage < 2; ++stage) {
      check_ldmatrix_banks("K", sm.k(stage), kMmaBlockN / 16, d / kMmaK,
                           [&](int np, int kc, int lane) { return ldsm_k_offset(np, kc, lane, d); });
      check_ldmatrix_banks("V", sm.v(stage), kMmaBlockN / kMmaK, d / 16,
                           [&](int kc, int dp, int lane) { return ldsm_v_offset(kc, dp, lane, d); });
    }
    // cp.async writes: chunk idx of a tile goes to copy_chunk(idx); every chunk of the tile
    // once, and each quarter warp's eight 16-byte stores on 32 distinct banks.
    for (int rows : {kMmaBlockN, kMmaBlockM}) {
      std::set<std::pair<int, int>> chunks;
      const int n = rows * d / kChunkElems;
      for (int q0 = 0; q0 < n; q0 += 8) {
        auto offset = [&](int i) {
          const FragCoord c = copy_chunk(q0 + i % 8, d);
          return swizzled_offset(c.row, c.col, d);
        };
        CHECK(phase_banks(0, offset) == 32);
        for (int i = 0; i < 8; ++i) {
          const FragCoord c = copy_chunk(q0 + i, d);
          REQUIRE((c.row >= 0 && c.row < rows && c.col >= 0 && c.col < d && c.col % kChunkElems == 0));
          chunks.insert({c.row, c.col});
        }
      }
      CHECK(chunks.size() == size_t(n));
    }
  }
  // The bank check can fail: unswizzled rows 2d bytes apart put one ldmatrix phase on
  // four banks (the 8-way conflict the swizzle removes).
  auto plain = [](int lane) { return ldsm_k_src(lane).row * 128 + ldsm_k_src(lane).col; };
  CHECK(phase_banks(0, plain) == 4);
}

TEST_CASE("the base-2 online softmax equals the natural one", "[gpu][math]") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 200);
    auto raw = random_vec(n, rng);
    const float scale = 0.125f * (1 + trial % 4), softcap = trial % 3 == 0 ? 5.0f : 0.0f;
    const LogitsHook h{scale, softcap};
    // fp64 softmax of the natural logits.
    std::vector<double> logit(n);
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; ++j) {
      logit[j] = double(raw[j]) * 8.0 * scale;  // std ~8 * scale: spread-out rows
      if (softcap > 0) logit[j] = softcap * std::tanh(logit[j] / softcap);
      mx = std::max(mx, logit[j]);
    }
    for (int j = 0; j < n; ++j) sum += std::exp(logit[j] - mx);
    // Base 2 over tiles of 7 keys, every third key masked out in odd trials.
    OnlineSoftmax2 st = OnlineSoftmax2::start();
    double sum_seen = 0, mx_seen = -INFINITY;
    std::vector<float> p(n, 0.0f);
    for (int t0 = 0; t0 < n; t0 += 7) {
      float tile_max = neg_inf();
      std::vector<float> x2(n, neg_inf());
      for (int j = t0; j < std::min(n, t0 + 7); ++j) {
        if (trial % 2 == 1 && j % 3 == 0) continue;
        x2[j] = logit_log2(h, scale * kLog2e, raw[j] * 8.0f);
        tile_max = std::max(tile_max, x2[j]);
        mx_seen = std::max(mx_seen, logit[j]);
      }
      const float alpha = st.rescale(tile_max);
      float mass = 0;
      for (float& x : p) x *= alpha;
      for (int j = t0; j < std::min(n, t0 + 7); ++j) {
        p[j] = st.prob(x2[j]);
        mass += p[j];
      }
      st.add(mass);
    }
    for (int j = 0; j < n; ++j)
      if (!(trial % 2 == 1 && j % 3 == 0)) sum_seen += std::exp(logit[j] - mx_seen);
    if (trial % 2 == 0) REQUIRE(sum_seen == Approx(sum));
    for (int j = 0; j < n; ++j) {
      const bool masked = trial % 2 == 1 && j % 3 == 0;
      const double want = masked ? 0.0 : std::exp(logit[j] - mx_seen) / sum_seen;
      CHECK(p[j] * st.inv_sum() == Approx(want).margin(1e-6).epsilon(1e-5));
    }
    if (sum_seen > 0) CHECK(st.lse() == Approx(mx_seen + std::log(sum_seen)).epsilon(1e-5));
  }
  // No visible key: zeros and -inf, as the natural version.
  OnlineSoftmax2 st = OnlineSoftmax2::start();
  CHECK(st.rescale(neg_inf()) == 1.0f);
  CHECK(st.prob(neg_inf()) == 0.0f);
  CHECK(st.inv_sum() == 0.0f);
  CHECK(st.lse() == neg_inf());
  // Without softcap the fold is one multiply; with it tanh sees the natural scaled logit.
  CHECK(logit_log2(LogitsHook{0.5f, 0.0f}, 0.5f * kLog2e, 3.0f) == 1.5f * kLog2e);
  CHECK(logit_log2(LogitsHook{0.5f, 2.0f}, 0.5f * kLog2e, 3.0f) ==
        Approx(2.0 * std::tanh(0.75) * 1.4426950408889634));
}

TEST_CASE("heavy-first row tiles visit every tile once, the last first", "[gpu][grid]") {
  for (int nx : {1, 2, 7, 64}) {
    std::vector<int> hits(nx, 0);
    for (int x = 0; x < nx; ++x) {
      const int t = heavy_first_tile(x, nx);
      REQUIRE((t >= 0 && t < nx));
      ++hits[t];
    }
    CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
    CHECK(heavy_first_tile(0, nx) == nx - 1);
  }
}

TEST_CASE("a tile is mask-free only when every row of the warp sees all its keys", "[gpu][mma][mask]") {
  int free_tiles = 0, masked_tiles = 0;
  for (int causal : {0, 1})
    for (int wl : {-1, 0, 20, 70})
      for (int wr : {-1, 0, 9})
        for (auto [lq, lk] : {std::pair{1, 1}, std::pair{40, 200}, std::pair{200, 40}, std::pair{150, 150},
                              std::pair{77, 300}})
          for (int rows : {16, kMmaBlockM})
            for (int r0 = 0; r0 < lq + rows; r0 += rows)
              for (int k0 = 0; k0 < lk + kMmaBlockN; k0 += kMmaBlockN) {
                const MaskHook m{causal, wl, wr};
                bool all = true;
                for (int i = r0; i < std::min(r0 + rows, lq); ++i)
                  for (int j = k0; j < k0 + kMmaBlockN; ++j) all = all && m.visible(i, j, lq, lk);
                INFO("causal " << causal << " window " << wl << "," << wr << " lq " << lq << " lk " << lk
                               << " rows " << r0 << " keys " << k0);
                CHECK(tile_fully_visible(m, r0, r0 + rows, lq, lk, k0, k0 + kMmaBlockN) == all);
                (all ? free_tiles : masked_tiles) += 1;
              }
  CHECK(free_tiles > 0);
  CHECK(masked_tiles > 0);
}

TEST_CASE("the kernel's ldmatrix offsets into swizzled tiles deliver the mma operands", "[gpu][mma][ldmatrix]") {
  for (int d : {64, 128}) {
    INFO("d " << d);
    // A tile of kMmaBlockM rows whose element (r, c), stored swizzled, holds r * d + c.
    std::vector<int> code(static_cast<size_t>(kMmaBlockM) * d, -1);
    for (int r = 0; r < kMmaBlockM; ++r)
      for (int c = 0; c < d; ++c) code[swizzled_offset(r, c, d)] = r * d + c;
    for (int lane = 0; lane < kMmaLanes; ++lane)
      for (int reg = 0; reg < 4; ++reg)
        for (int half = 0; half < 2; ++half) {
          INFO("lane " << lane << " register " << reg << " half " << half);
          const FragCoord a = isa_a(lane, 2 * reg + half), b = isa_b(lane, 2 * (reg & 1) + half);
          for (int kc = 0; kc < d / kMmaK; ++kc) {
            // Q: A(row, k) of warp w is Q[w * 16 + row][kc * 16 + k].
            for (int w = 0; w < kMmaWarps; ++w)
              CHECK(ldmatrix_code(code, lane, reg, half, false, [&](int s) { return ldsm_q_offset(w, kc, s, d); }) ==
                    (w * kMmaM + a.row) * d + kc * kMmaK + a.col);
            // K: B(k, n) of n-tile 2 np + (reg >> 1) is K[key (2 np + reg / 2) * 8 + n][kc * 16 + k].
            for (int np = 0; np < kMmaBlockN / 16; ++np)
              CHECK(ldmatrix_code(code, lane, reg, half, false, [&](int s) { return ldsm_k_offset(np, kc, s, d); }) ==
                    ((2 * np + (reg >> 1)) * kMmaN + b.col) * d + kc * kMmaK + b.row);
          }
          // V: B(k, n) of k-chunk kc, dim tile 2 dp + (reg >> 1) is V[kc * 16 + k][(2 dp + reg / 2) * 8 + n].
          for (int kc = 0; kc < kMmaBlockN / kMmaK; ++kc)
            for (int dp = 0; dp < d / 16; ++dp)
              CHECK(ldmatrix_code(code, lane, reg, half, true, [&](int s) { return ldsm_v_offset(kc, dp, s, d); }) ==
                    (kc * kMmaK + b.row) * d + (2 * dp + (reg >> 1)) * kMmaN + b.col);
        }
  }
}

TEST_CASE("the emulated MMA flash kernel matches the fp64 oracle", "[gpu][mma][emulation]") {
  std::mt19937 rng(23);
  const EmuShape shapes[] = {
      {1, 2, 1, 200, 333, 64, 1, -1, -1, 0},   // bottom-right causal, 2 row blocks, 6 key tiles
      {1, 2, 2, 150, 150, 128, 0, -1, -1, 0},  // no mask: every full tile mask-free
      {2, 4, 2, 140, 70, 64, 1, -1, -1, 0},    // len_q > len_k: leading rows see nothing
      {1, 2, 1, 260, 260, 64, 1, 90, 5, 0},    // window: interior tiles inside long rows
      {1, 2, 2, 130, 200, 128, 0, -1, -1, 15.0f},  // softcap on interior and edge tiles
      {1, 1, 1, 1, 1, 128, 1, -1, -1, 0},      // one row, one key
  };
  for (const EmuShape& s : shapes) {
    INFO("lq " << s.lq << " lk " << s.lk << " d " << s.d);
    const OracleCase c = oracle_case(s, rng);
    std::vector<float> o(c.q.size(), NAN);
    emulate_mma_flash(c.a, c.q.data(), c.k.data(), c.v.data(), o.data());
    CHECK(max_err(c.a, o, c.ref) < 1e-5);
    CHECK(nan_in_rows(c.a, o) == 0);
  }
}

TEST_CASE("the emulated MMA flash kernel never lets NaN padding past seq_len_k reach O", "[gpu][mma][emulation]") {
  std::mt19937 rng(29);
  for (int d : {64, 128}) {
    ab_attention_args a = make_args(3, 2, 1, 150, 220, d, 1);
    const int32_t lq[3] = {150, 20, 1}, lk[3] = {220, 70, 129};
    a.seq_len_q = lq; a.seq_len_k = lk;
    const auto q = random_vec(size_t(3) * 2 * 150 * d, rng);
    auto k = random_vec(size_t(3) * 1 * 220 * d, rng), v = random_vec(k.size(), rng);
    const ContiguousKv kv{1, 220, d};
    for (int b = 0; b < 3; ++b)
      for (int j = lk[b]; j < 220; ++j)
        for (int c = 0; c < d; ++c) k[kv.row_offset(b, 0, j) + c] = v[kv.row_offset(b, 0, j) + c] = NAN;
    std::vector<double> ref(q.size());
    reference_attention(a, q.data(), k.data(), v.data(), ref.data());
    std::vector<float> o(q.size(), NAN);
    emulate_mma_flash(a, q.data(), k.data(), v.data(), o.data());
    CHECK(max_err(a, o, ref) < 1e-5);
    CHECK(nan_in_rows(a, o) == 0);  // max_err's std::max would pass over a NaN
  }
}
