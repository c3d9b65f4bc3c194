// Shared helpers of the CPU kernel tests: build a random case in any storage type
// (optionally paged with a shuffled block table), run a variant on NaN-poisoned
// outputs, and compare the valid rows with the fp64 oracle.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attnbench/dtype.h"
#include "attnbench/plugin_abi.h"
#include "cpu_kernels.h"
#include "reference_attention.h"

namespace cpu_test {

using namespace attnbench;

/// Shape and options of one test case.
struct Shape {
  int batch = 1, heads_q = 1, heads_kv = 1, len_q = 1, len_k = 1, head_dim = 64;
  int head_dim_v = 0;  // value / output head dim, 0 = head_dim
  int dv() const { return head_dim_v > 0 ? head_dim_v : head_dim; }
  ab_dtype dtype = AB_F32;
  bool causal = false;
  int window_left = -1, window_right = -1;
  float softcap = 0.0f;
  std::vector<int32_t> seq_len_q, seq_len_k;  // empty: not varlen
  int page_size = 0;                          // > 0: paged KV, shuffled block table
};

inline std::string describe(const Shape& s) {
  std::string r = std::string(dtype_name(s.dtype)) + " B" + std::to_string(s.batch) + " Hq" +
                  std::to_string(s.heads_q) + " Hkv" + std::to_string(s.heads_kv) + " Lq" +
                  std::to_string(s.len_q) + " Lk" + std::to_string(s.len_k) + " d" + std::to_string(s.head_dim);
  if (s.dv() != s.head_dim) r += " dv" + std::to_string(s.dv());
  if (s.causal) r += " causal";
  if (s.window_left >= 0 || s.window_right >= 0)
    r += " window(" + std::to_string(s.window_left) + "," + std::to_string(s.window_right) + ")";
  if (s.softcap > 0) r += " softcap=" + std::to_string(s.softcap);
  if (!s.seq_len_q.empty() || !s.seq_len_k.empty()) r += " varlen";
  if (s.page_size > 0) r += " page=" + std::to_string(s.page_size);
  return r;
}

/// A case with its storage buffers and the fp32 values the oracle sees.
struct Case {
  Shape shape;
  ab_attention_args args{};
  std::vector<float> qf, kf, vf;  // contiguous, exactly the stored (rounded) values
  std::vector<unsigned char> q, k, v, o;
  std::vector<int32_t> table;

  static ab_buffer buf(std::vector<unsigned char>& b) { return reinterpret_cast<ab_buffer>(b.data()); }
};

inline std::vector<float> random_values(size_t n, std::mt19937& rng, float amp) {
  std::normal_distribution<float> g(0.0f, amp);
  std::vector<float> v(n);
  for (float& x : v) x = g(rng);
  return v;
}

/// Stores values in dtype t and replaces them by what was stored.
inline std::vector<unsigned char> store_rounded(ab_dtype t, std::vector<float>& vals) {
  std::vector<unsigned char> bytes(vals.size() * dtype_size(t));
  encode(t, vals.data(), bytes.data(), vals.size());
  decode(t, bytes.data(), vals.data(), vals.size());
  return bytes;
}

inline Case make_case(const Shape& s, unsigned seed) {
  Case c;
  c.shape = s;
  std::mt19937 rng(seed);
  const size_t d = s.head_dim, dv = s.dv();
  const size_t nq = static_cast<size_t>(s.batch) * s.heads_q * s.len_q * d;
  const size_t nkv = static_cast<size_t>(s.batch) * s.heads_kv * s.len_k * d;
  const size_t nv = nkv / std::max<size_t>(d, 1) * dv;
  // Queries of larger amplitude give peaky softmaxes, which exercise the rescaling.
  c.qf = random_values(nq, rng, 1.5f);
  c.kf = random_values(nkv, rng, 1.0f);
  c.vf = random_values(nv, rng, 1.0f);
  c.q = store_rounded(s.dtype, c.qf);
  c.k = store_rounded(s.dtype, c.kf);
  c.v = store_rounded(s.dtype, c.vf);
  c.o.assign(nq / std::max<size_t>(d, 1) * dv * dtype_size(s.dtype) + 1, 0);  // +1: never a zero-sized vector

  ab_attention_args& a = c.args;
  a.batch = s.batch; a.heads_q = s.heads_q; a.heads_kv = s.heads_kv;
  a.len_q = s.len_q; a.len_k = s.len_k; a.head_dim = s.head_dim; a.head_dim_v = s.head_dim_v; a.dtype = s.dtype;
  a.causal = s.causal; a.window_left = s.window_left; a.window_right = s.window_right;
  a.scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  a.softcap = s.softcap;
  a.seq_len_q = s.seq_len_q.empty() ? nullptr : c.shape.seq_len_q.data();
  a.seq_len_k = s.seq_len_k.empty() ? nullptr : c.shape.seq_len_k.data();

  if (s.page_size > 0) {
    // Pool of pages in shuffled order: logical page p of batch b lives at table[b][p].
    const int ps = s.page_size, per_seq = (s.len_k + ps - 1) / ps;
    const int pages = s.batch * per_seq + 3;  // a few unused pages in the pool
    std::vector<int32_t> order(pages);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    c.table.assign(static_cast<size_t>(s.batch) * per_seq, 0);
    std::vector<float> kp(static_cast<size_t>(pages) * s.heads_kv * ps * d, 1e30f),
        vp(static_cast<size_t>(pages) * s.heads_kv * ps * dv, 1e30f);  // garbage in unused slots must not leak in
    for (int b = 0; b < s.batch; ++b)
      for (int p = 0; p < per_seq; ++p) {
        const int page = order[b * per_seq + p];
        c.table[b * per_seq + p] = page;
        for (int h = 0; h < s.heads_kv; ++h)
          for (int t = 0; t < ps && p * ps + t < s.len_k; ++t) {
            const size_t src = (static_cast<size_t>(b) * s.heads_kv + h) * s.len_k + p * ps + t;
            const size_t dst = (static_cast<size_t>(page) * s.heads_kv + h) * ps + t;
            std::copy_n(c.kf.begin() + src * d, d, kp.begin() + dst * d);
            std::copy_n(c.vf.begin() + src * dv, dv, vp.begin() + dst * dv);
          }
      }
    std::vector<float> kq = kp, vq = vp;
    c.k = store_rounded(s.dtype, kq);
    c.v = store_rounded(s.dtype, vq);
    a.page_size = ps;
    a.max_pages_per_seq = per_seq;
    a.num_pages = pages;
    a.block_table = reinterpret_cast<ab_buffer>(c.table.data());
  }
  a.q = Case::buf(c.q); a.k = Case::buf(c.k); a.v = Case::buf(c.v); a.o = Case::buf(c.o);
  return c;
}

/// Outcome of running one variant on a case.
struct Outcome {
  cpu::Check check;
  double rel_l2 = 0;     // over valid rows, vs the fp64 oracle
  size_t nan_rows = 0;   // valid rows holding a NaN (unwritten or broken)
  double max_abs = 0;    // max |o - ref| over valid rows
};

/// Poisons O with NaN bytes, runs `variant`, and compares valid rows with the oracle.
inline Outcome run_and_compare(const char* variant, Case& c) {
  Outcome out;
  std::fill(c.o.begin(), c.o.end(), 0xFF);  // NaN in fp32, bf16 and fp16
  out.check = cpu::run_variant(variant, c.args);
  if (!out.check.ok()) return out;
  const Shape& s = c.shape;
  const int d = s.dv();
  ab_attention_args flat = c.args;
  flat.page_size = 0;
  std::vector<double> ref(static_cast<size_t>(s.batch) * s.heads_q * s.len_q * d + 1, 0.0);
  if (s.batch > 0 && s.len_q > 0) reference_attention(flat, c.qf.data(), c.kf.data(), c.vf.data(), ref.data());
  std::vector<float> o(ref.size());
  decode(s.dtype, c.o.data(), o.data(), ref.size() - 1);
  double err2 = 0, ref2 = 0;
  for (int b = 0; b < s.batch; ++b) {
    const int lq = s.seq_len_q.empty() ? s.len_q : s.seq_len_q[b];
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < lq; ++i) {
        const size_t off = ((static_cast<size_t>(b) * s.heads_q + h) * s.len_q + i) * d;
        bool nan = false;
        for (int t = 0; t < d; ++t) {
          const double x = o[off + t], r = ref[off + t];
          if (std::isnan(x)) { nan = true; continue; }
          err2 += (x - r) * (x - r);
          ref2 += r * r;
          out.max_abs = std::max(out.max_abs, std::fabs(x - r));
        }
        out.nan_rows += nan;
      }
  }
  out.rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  return out;
}

/// Error bound of a storage type: fp32 1e-5, 16-bit 1e-2 (relative L2).
inline double tolerance(ab_dtype t) { return t == AB_F32 ? 1e-5 : 1e-2; }

}  // namespace cpu_test
