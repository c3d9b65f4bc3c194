// Backward test cases shared by the CPU backward tests and the GPU backward emulation
// tests: a random forward case with the fp64 forward's O (rounded to the dtype) and LSE,
// a random dO, NaN-poisoned gradient buffers, and the relative L2 error of a stored
// gradient against the fp64 oracle's.
#pragma once

#include "reference_backward.h"
#include "test_cpu_common.h"

namespace cpu_test {

/// The inputs a backward call reads beyond Q, K, V: O (rounded to the dtype), LSE (fp32)
/// and dO, plus the gradient buffers (poisoned with NaN bytes).
struct BackwardCase {
  Case fwd;
  std::vector<float> dof;
  std::vector<unsigned char> d_o, dq, dk, dv;
  std::vector<float> lse;
  ab_backward_args args{};
};

inline BackwardCase make_backward_case(const Shape& s, unsigned seed) {
  BackwardCase c;
  c.fwd = make_case(s, seed);
  const ab_attention_args& a = c.fwd.args;
  const size_t rows = static_cast<size_t>(s.batch) * s.heads_q * s.len_q;
  std::vector<double> o(rows * s.head_dim + 1), lse(rows + 1);
  reference_forward_lse(a, c.fwd.qf.data(), c.fwd.kf.data(), c.fwd.vf.data(), o.data(), lse.data());
  std::vector<float> of(o.begin(), o.end() - 1);
  c.fwd.o = store_rounded(s.dtype, of);
  c.fwd.o.push_back(0);
  c.lse.assign(lse.begin(), lse.end());
  std::mt19937 rng(seed + 1000);
  c.dof = random_values(rows * s.head_dim, rng, 1.0f);
  c.d_o = store_rounded(s.dtype, c.dof);
  c.d_o.push_back(0);
  c.dq.assign(c.fwd.q.size(), 0xFF);
  c.dk.assign(c.fwd.k.size(), 0xFF);
  c.dv.assign(c.fwd.v.size(), 0xFF);
  c.args.fwd = a;
  c.args.fwd.o = Case::buf(c.fwd.o);
  c.args.fwd.lse = reinterpret_cast<ab_buffer>(c.lse.data());
  c.args.d_o = Case::buf(c.d_o);
  c.args.d_q = Case::buf(c.dq);
  c.args.d_k = Case::buf(c.dk);
  c.args.d_v = Case::buf(c.dv);
  return c;
}

/// Relative L2 error of a stored gradient against the oracle's (NaN counts as failure).
inline double rel_error(ab_dtype t, const std::vector<unsigned char>& got, const std::vector<double>& ref) {
  std::vector<float> g(ref.size());
  decode(t, got.data(), g.data(), ref.size());
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(g[i])) return INFINITY;
    err2 += (g[i] - ref[i]) * (g[i] - ref[i]);
    ref2 += ref[i] * ref[i];
  }
  return ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
}

/// A batch-2 case of hq query heads on hkv KV heads, lq x lk, head dim d, dtype t.
inline Shape shape(int hq, int hkv, int lq, int lk, int d, ab_dtype t, bool causal, int window_left = -1) {
  Shape s;
  s.batch = 2;
  s.heads_q = hq;
  s.heads_kv = hkv;
  s.len_q = lq;
  s.len_k = lk;
  s.head_dim = d;
  s.dtype = t;
  s.causal = causal;
  s.window_left = window_left;
  return s;
}

/// The GPU backward cases (emulation and device): causal and not, GQA group 1 and 4,
/// windows, odd lengths both ways (37 x 77, 77 x 37), d 64 and 128, every storage type.
inline std::vector<Shape> gpu_backward_shapes() {
  std::vector<Shape> out;
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    for (int d : {64, 128})
      for (bool causal : {false, true})
        for (auto [lq, lk] : {std::pair{37, 77}, std::pair{77, 37}, std::pair{64, 64}})
          for (int hkv : {4, 1}) out.push_back(shape(4, hkv, lq, lk, d, t, causal));
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
    Shape w = shape(4, 1, 100, 100, 64, t, true, 17);  // sliding window, causal
    out.push_back(w);
    w = shape(4, 4, 77, 90, 128, t, false, 9);  // window (9, 4), not causal
    w.window_right = 4;
    out.push_back(w);
    out.push_back(shape(2, 1, 33, 45, 40, t, true));  // d below 64: padded columns
    out.push_back(shape(2, 2, 50, 70, 96, t, false));  // d between the instantiations
  }
  return out;
}

}  // namespace cpu_test
