// quant_decode: decode attention over a quantised cache (quant_layout.h) with the
// dequantisation inside the kernel: each task walks its tokens in tiles of kTile, turns
// the tile's codes (or full-precision rows) into an L1-resident f32 tile, and runs the
// scores, an online softmax (fp32, base 2) and P V over it; no f32 copy of the cache
// is formed. Tasks are (KV head, chunk of kChunk tokens) with every query row of the
// head's GQA group; chunks are merged in order, so the output does not depend on the
// thread count.
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kv_isa.h"
#include "kv_scratch.h"
#include "kv_vec.h"
#include "quant_layout.h"

namespace attnbench::cpu::kv::AB_KV_ISA {
namespace {

constexpr int kTile = 32;     // tokens dequantised at a time
constexpr int kChunk = 1024;  // tokens per task
constexpr double kSerialWork = 1 << 22;

thread_local std::vector<float> tl_tile, tl_part;

/// 16 codes of a row starting at channel 16 * vec, widened to i32.
template <int W>
inline i32x16 unpack16(const uint8_t* row, int vec) {
  const uint8_t* p = row + 2 * W * vec;  // 16 codes = 2W bytes
  u8x16 b = {};
  std::memcpy(&b, p, 2 * W);
  if constexpr (W == 8) {
    return widen_u8(b);
  } else if constexpr (W == 4) {
    const u8x16 s = __builtin_shufflevector(b, b, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const i32x16 sh = {0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4};
    return (widen_u8(s) >> sh) & 15;
  } else if constexpr (W == 2) {
    const u8x16 s = __builtin_shufflevector(b, b, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const i32x16 sh = {0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6, 0, 2, 4, 6};
    return (widen_u8(s) >> sh) & 3;
  } else {
    const u8x16 s = __builtin_shufflevector(b, b, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    const i32x16 sh = {0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7};
    return (widen_u8(s) >> sh) & 1;
  }
}

/// u * scale + zero with one rounding (the host code's contracted FMA).
inline f32x16 fma_exact(f32x16 u, f32x16 scale, f32x16 zero) {
  if constexpr (kHasFma) {
    return u * scale + zero;
  } else {
    f32x16 r;
    for (int i = 0; i < 16; ++i) r[i] = std::fma(u[i], scale[i], zero[i]);
    return r;
  }
}

/// Dequantises token `tok` (< nq) of tensor t into dst[0..dp) (padding channels 0).
/// Symmetric tensors store zero = 0, so both kinds are fma(u - bias, scale, zero).
template <int W>
void dequant_row(const uint8_t* head, const TensorLayout& t, int tok, int d, float* dst) {
  const uint8_t* row = head + t.codes + t.row_bytes * tok;
  const float* scales = reinterpret_cast<const float*>(head + t.scales);
  const float* zeros = reinterpret_cast<const float*>(head + t.zeros);
  const f32x16 bias = splat(t.symmetric ? static_cast<float>(1 << (t.bits - 1)) : 0.0f);
  auto emit = [&](int c, f32x16 sc, f32x16 ze) {
    const f32x16 u = __builtin_convertvector(unpack16<W>(row, c / 16), f32x16) - bias;
    f32x16 x = fma_exact(u, sc, ze);
    if (d - c < 16) x = iota16() < d - c ? x : splat(0.0f);
    store16(dst + c, x);
  };
  if (t.axis == AB_KV_PER_CHANNEL) {
    const float* sp = scales + static_cast<size_t>(tok / t.group) * d;
    const float* zp = zeros + static_cast<size_t>(tok / t.group) * d;
    int c = 0;
    for (; c + 16 <= d; c += 16) emit(c, load16(sp + c), load16(zp + c));
    if (c < d) emit(c, load16_partial(sp + c, d - c), load16_partial(zp + c, d - c));
    return;
  }
  const float* sp = scales + static_cast<size_t>(tok) * t.ngroups;
  const float* zp = zeros + static_cast<size_t>(tok) * t.ngroups;
  if (t.group % 16 == 0) {  // one group per 16-lane vector
    for (int gi = 0; gi < t.ngroups; ++gi) {
      const f32x16 sc = splat(sp[gi]), ze = splat(zp[gi]);
      for (int c = gi * t.group, end = std::min(d, c + t.group); c < end; c += 16) emit(c, sc, ze);
    }
    return;
  }
  for (int c = 0; c < d; c += 16) {
    f32x16 sc, ze;
    for (int i = 0; i < 16; ++i) {
      const int gi = std::min(c + i, d - 1) / t.group;
      sc[i] = sp[gi], ze[i] = zp[gi];
    }
    emit(c, sc, ze);
  }
}

void dequant_dispatch(const uint8_t* head, const TensorLayout& t, int tok, int d, float* dst) {
  switch (t.width) {
    case 8: dequant_row<8>(head, t, tok, d, dst); break;
    case 4: dequant_row<4>(head, t, tok, d, dst); break;
    case 2: dequant_row<2>(head, t, tok, d, dst); break;
    default: dequant_row<1>(head, t, tok, d, dst); break;
  }
}

/// Tile rows [tok0, tok0 + nt) of K (which = 0) or V into dst [kTile][dp]; rows past nt 0.
void build_tile(const uint8_t* head, const HeadLayout& h, int which, int tok0, int nt, int d, int dp, float* dst) {
  const TensorLayout& t = which ? h.v : h.k;
  const float* fp = reinterpret_cast<const float*>(head + (which ? h.fp_v : h.fp_k));
  for (int i = 0; i < nt; ++i) {
    const int tok = tok0 + i;
    float* r = dst + static_cast<size_t>(i) * dp;
    if (tok < h.nq) {
      dequant_dispatch(head, t, tok, d, r);
    } else {
      std::memcpy(r, fp + static_cast<size_t>(tok - h.nq) * d, sizeof(float) * d);
      std::fill(r + d, r + dp, 0.0f);
    }
  }
  std::fill(dst + static_cast<size_t>(nt) * dp, dst + static_cast<size_t>(kTile) * dp, 0.0f);
}

/// Calls f(std::integral_constant<int, n>) for n in [1, 4].
template <class F>
inline void dispatch_vecs(int n, F&& f) {
  switch (n) {
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

/// acc[r][16 (v0 + u) ..] = acc * alpha[r] + sum_t p[r][t] V[t] for 4 rows and NU vectors;
/// every V vector is loaded once for the 4 rows.
template <int NU>
inline void pv_block(float* acc, size_t ps, const float* alpha, const float* p, const float* vt, int dp, int nt, int v0) {
  f32x16 o[4][NU];
  for (int r = 0; r < 4; ++r)
    for (int u = 0; u < NU; ++u) o[r][u] = load16(acc + r * ps + 16 * (v0 + u)) * alpha[r];
  for (int t = 0; t < nt; ++t) {
    f32x16 vv[NU];
    for (int u = 0; u < NU; ++u) vv[u] = load16(vt + static_cast<size_t>(t) * dp + 16 * (v0 + u));
    for (int r = 0; r < 4; ++r) {
      const f32x16 pt = splat(p[r * kTile + t]);
      for (int u = 0; u < NU; ++u) o[r][u] = pt * vv[u] + o[r][u];
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int u = 0; u < NU; ++u) store16(acc + r * ps + 16 * (v0 + u), o[r][u]);
}

struct Call {
  const ab_kv_quant_decode_args& a;
  const std::vector<HeadLayout>& heads;
  int g, d, dp, rows, rows4, max_chunks;
  float* part;  // [heads_kv][max_chunks][rows4][dp + 2]: acc, then m and l

  size_t part_stride() const { return static_cast<size_t>(dp) + 2; }
  float* part_of(int j, int c) const { return part + (static_cast<size_t>(j) * max_chunks + c) * rows4 * part_stride(); }

  /// Online softmax over one chunk of head j's tokens for every query row of the group.
  void chunk(int j, int c) const {
    const HeadLayout& h = heads[j];
    const uint8_t* head = static_cast<const uint8_t*>(static_cast<const void*>(a.cache)) + h.base;
    const int tok_begin = c * kChunk, tok_end = std::min(h.n, tok_begin + kChunk);
    const size_t tile = static_cast<size_t>(kTile) * dp;
    const size_t need = 2 * tile + static_cast<size_t>(rows4) * dp + static_cast<size_t>(rows4) * (kTile + 1);
    if (tl_tile.size() < need) tl_tile.resize(need);
    float *kt = tl_tile.data(), *vt = kt + tile, *qs = vt + tile, *s = qs + static_cast<size_t>(rows4) * dp;
    float* alpha = s + static_cast<size_t>(rows4) * kTile;  // per-row rescale of a tile
    // Query rows, scaled into base 2 and zero padded: row r = (head j*g + r / n_q, query r % n_q).
    const float* Q = static_cast<const float*>(static_cast<const void*>(a.q));
    const float qscale = a.scale * 1.4426950408889634f;
    for (int r = 0; r < rows4; ++r) {
      float* dst = qs + static_cast<size_t>(r) * dp;
      std::fill(dst, dst + dp, 0.0f);
      if (r < rows) {
        const float* src = Q + (static_cast<size_t>(j) * rows + r) * d;
        for (int i = 0; i < d; ++i) dst[i] = src[i] * qscale;
      }
    }
    float* pc = part_of(j, c);
    const size_t ps = part_stride();
    for (int r = 0; r < rows4; ++r) {
      std::fill(pc + r * ps, pc + r * ps + dp, 0.0f);
      pc[r * ps + dp] = -INFINITY;  // m
      pc[r * ps + dp + 1] = 0.0f;   // l
    }
    const int nv = dp / 16;
    for (int t0 = tok_begin; t0 < tok_end; t0 += kTile) {
      const int nt = std::min(kTile, tok_end - t0);
      build_tile(head, h, 0, t0, nt, d, dp, kt);
      build_tile(head, h, 1, t0, nt, d, dp, vt);
      // Scores: blocks of 4 rows x 4 keys, reduced 16 at a time.
      for (int r0 = 0; r0 < rows4; r0 += 4)
        for (int k0 = 0; k0 < nt; k0 += 4) {
          f32x16 acc[16];
          for (int i = 0; i < 16; ++i) acc[i] = f32x16{};
          for (int v = 0; v < nv; ++v) {
            f32x16 kv[4];
            for (int jj = 0; jj < 4; ++jj) kv[jj] = load16(kt + static_cast<size_t>(k0 + jj) * dp + 16 * v);
            for (int rr = 0; rr < 4; ++rr) {
              const f32x16 qv = load16(qs + static_cast<size_t>(r0 + rr) * dp + 16 * v);
              for (int jj = 0; jj < 4; ++jj) acc[rr * 4 + jj] = qv * kv[jj] + acc[rr * 4 + jj];
            }
          }
          const f32x16 red = reduce16(acc);
          for (int rr = 0; rr < 4; ++rr)
            for (int jj = 0; jj < 4; ++jj) s[static_cast<size_t>(r0 + rr) * kTile + k0 + jj] = red[rr * 4 + jj];
        }
      // Online softmax per row (padding rows have q = 0: finite, never read back).
      for (int r = 0; r < rows4; ++r) {
        float* sr = s + static_cast<size_t>(r) * kTile;
        f32x16 x0 = load16(sr), x1 = load16(sr + 16);
        x0 = iota16() < nt ? x0 : splat(-INFINITY);
        x1 = iota16() + 16 < nt ? x1 : splat(-INFINITY);
        float* acc = pc + r * ps;
        const float m_old = acc[dp], m_new = std::max(m_old, hmax(vmax(x0, x1)));
        alpha[r] = m_old == -INFINITY ? 0.0f : exp2_f32(splat(m_old - m_new))[0];
        const f32x16 p0 = exp2_f32(x0 - m_new), p1 = exp2_f32(x1 - m_new);
        store16(sr, p0), store16(sr + 16, p1);
        acc[dp + 1] = acc[dp + 1] * alpha[r] + hsum(p0 + p1);
        acc[dp] = m_new;
      }
      // P V: 4 rows x up to 4 vectors of channels per register block.
      for (int r0 = 0; r0 < rows4; r0 += 4)
        for (int v0 = 0; v0 < nv; v0 += 4)
          dispatch_vecs(std::min(4, nv - v0), [&](auto nu) {
            pv_block<decltype(nu)::value>(pc + r0 * ps, ps, alpha + r0, s + static_cast<size_t>(r0) * kTile, vt, dp, nt, v0);
          });
    }
  }

  /// Merges head j's chunks into O.
  void finish(int j) const {
    const int n = heads[j].n, nch = (n + kChunk - 1) / kChunk;
    float* O = static_cast<float*>(static_cast<void*>(a.o));
    const size_t ps = part_stride();
    for (int r = 0; r < rows; ++r) {
      float* o = O + (static_cast<size_t>(j) * rows + r) * d;
      if (nch == 0) {  // a head without tokens: no key, output 0
        std::fill(o, o + d, 0.0f);
        continue;
      }
      float m = -INFINITY;
      for (int c = 0; c < nch; ++c) m = std::max(m, part_of(j, c)[r * ps + dp]);
      std::vector<float> sum(dp, 0.0f);
      float l = 0.0f;
      for (int c = 0; c < nch; ++c) {
        const float* pr = part_of(j, c) + r * ps;
        const float w = std::exp2(pr[dp] - m);
        l += pr[dp + 1] * w;
        for (int i = 0; i < d; ++i) sum[i] += pr[i] * w;
      }
      for (int i = 0; i < d; ++i) o[i] = sum[i] / l;
    }
  }
};

}  // namespace

void quant_decode(const ab_kv_quant_decode_args& a) {
  const int d = a.head_dim, g = a.heads_q / a.heads_kv, rows = g * a.n_q;
  const std::vector<HeadLayout> heads = cache_layout(a.heads_kv, a.len_k, d, a.spec, a.len_per_head, nullptr);
  int max_chunks = 1;
  double work = 0;
  for (const HeadLayout& h : heads) {
    max_chunks = std::max(max_chunks, (h.n + kChunk - 1) / kChunk);
    work += static_cast<double>(h.n) * rows * d;
  }
  const int rows4 = (rows + 3) / 4 * 4, dp = padded_dim(d);
  std::vector<float> own;
  Call c{a, heads, g, d, dp, rows, rows4, max_chunks, nullptr};
  c.part = scratch(tl_part, own, static_cast<size_t>(a.heads_kv) * max_chunks * rows4 * c.part_stride());
  const int ntasks = a.heads_kv * max_chunks;
  auto task = [&](int t) {
    const int j = t / max_chunks, ch = t % max_chunks;
    if (ch * kChunk < heads[j].n) c.chunk(j, ch);
  };
  if (work < kSerialWork) {
    for (int t = 0; t < ntasks; ++t) task(t);
    for (int j = 0; j < a.heads_kv; ++j) c.finish(j);
    return;
  }
  tbb::parallel_for(tbb::blocked_range<int>(0, ntasks, 1), [&](const tbb::blocked_range<int>& r) {
    for (int t = r.begin(); t < r.end(); ++t) task(t);
  }, tbb::simple_partitioner());
  tbb::parallel_for(0, a.heads_kv, [&](int j) { c.finish(j); });
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA
