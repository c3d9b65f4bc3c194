// quantize: writes the quantised cache of one layer (layout and formulas in
// quant_layout.h): per-token or per-channel groups, asymmetric or symmetric codes with
// fp16-rounded scales and zero points, the residual window and the tail of an
// incomplete per-channel group in full precision. Codes are computed 16 channels at a
// time with exactly the scalar formulas of kv_kivi.cpp / kv_int8.cpp / kv_spatten.cpp
// (IEEE division, round to nearest even, clamp), so dequantised values match them bit
// for bit. Tasks are (head, tensor, block of tokens).
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kv_isa.h"
#include "kv_vec.h"
#include "quant_layout.h"

namespace attnbench::cpu::kv::AB_KV_ISA {
namespace {

constexpr int kTokenBlock = 256;

inline float to_fp16(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

/// Stored codes u of 16 lanes x with per-lane scale and zero (zero unused when symmetric).
inline i32x16 codes16(f32x16 x, f32x16 scale, f32x16 zero, const TensorLayout& t) {
  const f32x16 pos = scale > 0.0f ? scale : splat(1.0f);  // no 0/0 in lanes that store 0
  if (t.symmetric) {
    const float qs = static_cast<float>((1 << (t.bits - 1)) - 1);
    f32x16 r = round_even(x / pos);
    r = vmin(vmax(r, splat(-qs)), splat(qs));
    r = scale > 0.0f ? r : splat(0.0f);
    return __builtin_convertvector(r, i32x16) + (1 << (t.bits - 1));
  }
  const float qmax = static_cast<float>((1u << t.bits) - 1);
  f32x16 r = round_even((x - zero) / pos);
  r = vmin(vmax(r, splat(0.0f)), splat(qmax));
  r = scale > 0.0f ? r : splat(0.0f);
  return __builtin_convertvector(r, i32x16);
}

/// ORs 16 codes of channels c .. c + 15 (only the first `valid`) into a code row.
inline void put_codes(uint8_t* row, int c, i32x16 u, int valid, int w) {
  for (int i = 0; i < valid; ++i) {
    const int bit = (c + i) * w;
    row[bit / 8] |= static_cast<uint8_t>(u[i] << (bit % 8));
  }
}

/// Scale and zero of one group from its range (asymmetric) or absolute maximum.
inline void group_params(float lo, float hi, float amax, const TensorLayout& t, float* scale, float* zero) {
  if (t.symmetric) {
    *scale = to_fp16(amax / static_cast<float>((1 << (t.bits - 1)) - 1));
    *zero = 0.0f;
  } else {
    *zero = to_fp16(lo);
    *scale = to_fp16((hi - lo) / static_cast<float>((1u << t.bits) - 1));
  }
}

/// Per-token quantisation of tokens [t0, t1) of one tensor of a head.
void per_token(const float* X, int d, const TensorLayout& t, uint8_t* head, int t0, int t1) {
  float* scales = reinterpret_cast<float*>(head + t.scales);
  float* zeros = reinterpret_cast<float*>(head + t.zeros);
  std::vector<float> se(padded_dim(d)), ze(padded_dim(d));
  for (int tok = t0; tok < t1; ++tok) {
    const float* x = X + static_cast<size_t>(tok) * d;
    for (int gi = 0; gi < t.ngroups; ++gi) {
      const int c0 = gi * t.group, c1 = std::min(d, c0 + t.group);
      float lo = INFINITY, hi = -INFINITY, amax = 0.0f;
      for (int c = c0; c < c1; ++c) lo = std::min(lo, x[c]), hi = std::max(hi, x[c]), amax = std::max(amax, std::fabs(x[c]));
      float sc, ze0;
      group_params(lo, hi, amax, t, &sc, &ze0);
      scales[static_cast<size_t>(tok) * t.ngroups + gi] = sc;
      zeros[static_cast<size_t>(tok) * t.ngroups + gi] = ze0;
      std::fill(se.begin() + c0, se.begin() + c1, sc);
      std::fill(ze.begin() + c0, ze.begin() + c1, ze0);
    }
    uint8_t* row = head + t.codes + t.row_bytes * tok;
    std::memset(row, 0, t.row_bytes);
    for (int c = 0; c < d; c += 16) {
      const int valid = std::min(16, d - c);
      const i32x16 u = codes16(load16_partial(x + c, valid), load16_partial(se.data() + c, valid),
                               load16_partial(ze.data() + c, valid), t);
      put_codes(row, c, u, valid, t.width);
    }
  }
}

/// Per-channel quantisation of token groups [g0, g1) of one tensor of a head.
void per_channel(const float* X, int d, const TensorLayout& t, uint8_t* head, int g0, int g1) {
  float* scales = reinterpret_cast<float*>(head + t.scales);
  float* zeros = reinterpret_cast<float*>(head + t.zeros);
  for (int gi = g0; gi < g1; ++gi) {
    const int tok0 = gi * t.group;
    for (int tok = tok0; tok < tok0 + t.group; ++tok) std::memset(head + t.codes + t.row_bytes * tok, 0, t.row_bytes);
    for (int c = 0; c < d; c += 16) {
      const int valid = std::min(16, d - c);
      f32x16 lo = splat(INFINITY), hi = splat(-INFINITY), amax = {};
      for (int tok = tok0; tok < tok0 + t.group; ++tok) {
        const f32x16 x = load16_partial(X + static_cast<size_t>(tok) * d + c, valid);
        lo = vmin(lo, x), hi = vmax(hi, x), amax = vmax(amax, vabs(x));
      }
      f32x16 sc = {}, ze = {};
      for (int i = 0; i < valid; ++i) {
        float s, z;
        group_params(lo[i], hi[i], amax[i], t, &s, &z);
        sc[i] = s, ze[i] = z;
        scales[static_cast<size_t>(gi) * d + c + i] = s;
        zeros[static_cast<size_t>(gi) * d + c + i] = z;
      }
      for (int tok = tok0; tok < tok0 + t.group; ++tok) {
        const i32x16 u = codes16(load16_partial(X + static_cast<size_t>(tok) * d + c, valid), sc, ze, t);
        put_codes(head + t.codes + t.row_bytes * tok, c, u, valid, t.width);
      }
    }
  }
}

}  // namespace

void quantize(const ab_kv_quant_args& a) {
  const int d = a.head_dim, L = a.len_k;
  const std::vector<HeadLayout> heads = cache_layout(a.heads_kv, L, d, a.spec, a.len_per_head, nullptr);
  uint8_t* out = static_cast<uint8_t*>(static_cast<void*>(a.out));
  const float* K = static_cast<const float*>(static_cast<const void*>(a.k));
  const float* V = static_cast<const float*>(static_cast<const void*>(a.v));
  // Tasks: (head, tensor, token block); per-channel blocks are whole groups.
  struct Task { int j, which, t0, t1; };
  std::vector<Task> tasks;
  for (int j = 0; j < a.heads_kv; ++j)
    for (int which = 0; which < 2; ++which) {
      const TensorLayout& t = which ? heads[j].v : heads[j].k;
      const int unit = t.axis == AB_KV_PER_CHANNEL ? t.group : 1;
      const int units = heads[j].nq / unit, per = std::max(1, kTokenBlock / unit);
      for (int u = 0; u < units; u += per) tasks.push_back({j, which, u, std::min(units, u + per)});
      tasks.push_back({j, which + 2, 0, 0});  // full-precision rows
    }
  tbb::parallel_for(0, static_cast<int>(tasks.size()), [&](int i) {
    const Task& tk = tasks[i];
    const HeadLayout& h = heads[tk.j];
    uint8_t* head = out + h.base;
    const float* X = (tk.which % 2 ? V : K) + static_cast<size_t>(tk.j) * L * d;
    if (tk.which >= 2) {
      if (h.nf) std::memcpy(head + (tk.which == 3 ? h.fp_v : h.fp_k), X + static_cast<size_t>(h.nq) * d, sizeof(float) * h.nf * d);
      return;
    }
    const TensorLayout& t = tk.which ? h.v : h.k;
    if (t.axis == AB_KV_PER_TOKEN) per_token(X, d, t, head, tk.t0, tk.t1);
    else per_channel(X, d, t, head, tk.t0, tk.t1);
  });
}

}  // namespace attnbench::cpu::kv::AB_KV_ISA
