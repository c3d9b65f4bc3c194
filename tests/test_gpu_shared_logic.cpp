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
#include "mma_fragment.h"
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
  struct Shape { int b, hq, hkv, lq, lk, d, causal, wl, wr; float softcap; };
  const Shape shapes[] = {{1, 2, 2, 37, 37, 64, 1, -1, -1, 0},  {2, 4, 1, 5, 70, 32, 1, -1, -1, 0},
                          {1, 4, 2, 70, 5, 16, 1, -1, -1, 0},   {1, 2, 1, 33, 65, 128, 0, -1, -1, 0},
                          {1, 2, 2, 50, 50, 24, 0, 7, 2, 0},    {1, 3, 3, 40, 40, 8, 1, 9, -1, 30.0f}};
  for (const Shape& s : shapes) {
    ab_attention_args a = make_args(s.b, s.hq, s.hkv, s.lq, s.lk, s.d, s.causal);
    a.window_left = s.wl; a.window_right = s.wr; a.softcap = s.softcap;
    const auto q = random_vec(size_t(s.b) * s.hq * s.lq * s.d, rng);
    const auto k = random_vec(size_t(s.b) * s.hkv * s.lk * s.d, rng);
    const auto v = random_vec(k.size(), rng);
    std::vector<double> ref(q.size());
    reference_attention(a, q.data(), k.data(), v.data(), ref.data());
    std::vector<float> o(q.size(), 0.0f);
    emulate_flash(a, q.data(), k.data(), v.data(), o.data(), 16, 32);
    REQUIRE(max_err(a, o, ref) < 1e-5);
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
      {"mma flash, batch 70000", 2, 1, 70000, 128},
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
