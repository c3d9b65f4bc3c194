// CPU backward passes (naive, flash) against the fp64 oracle's gradients.
#include <catch2/catch.hpp>

#include "reference_backward.h"
#include "test_cpu_common.h"

using namespace cpu_test;

namespace {

/// The inputs a backward call reads beyond Q, K, V: O (rounded to the dtype), LSE (fp32)
/// and dO, plus the gradient buffers (poisoned with NaN bytes).
struct BackwardCase {
  Case fwd;
  std::vector<float> dof;
  std::vector<unsigned char> d_o, dq, dk, dv;
  std::vector<float> lse;
  ab_backward_args args{};
};

BackwardCase make_backward_case(const Shape& s, unsigned seed) {
  BackwardCase c{make_case(s, seed)};
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
double rel_error(ab_dtype t, const std::vector<unsigned char>& got, const std::vector<double>& ref) {
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

struct Errors {
  double dq, dk, dv;
};

Errors run_backward_case(const char* variant, BackwardCase& c) {
  const cpu::Check r = cpu::run_backward_variant(variant, c.args);
  INFO(r.reason);
  REQUIRE(r.ok());
  const Shape& s = c.fwd.shape;
  std::vector<double> dq(c.fwd.qf.size()), dk(c.fwd.kf.size()), dv(c.fwd.vf.size());
  reference_backward(c.fwd.args, c.fwd.qf.data(), c.fwd.kf.data(), c.fwd.vf.data(), c.dof.data(), dq.data(),
                     dk.data(), dv.data());
  return {rel_error(s.dtype, c.dq, dq), rel_error(s.dtype, c.dk, dk), rel_error(s.dtype, c.dv, dv)};
}

Shape shape(int hq, int hkv, int lq, int lk, int d, ab_dtype t, bool causal, int window_left = -1) {
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

}  // namespace

TEST_CASE("CPU backward: naive and flash gradients match the fp64 oracle", "[cpu][backward]") {
  const Shape shapes[] = {
      shape(2, 2, 64, 64, 64, AB_F32, false),
      shape(4, 2, 97, 97, 64, AB_F32, true),      // GQA, causal, odd length (partial tiles)
      shape(4, 1, 37, 150, 128, AB_F32, true),    // len_q < len_k: bottom-right causal
      shape(2, 1, 130, 130, 128, AB_F32, true, 40),  // sliding window
      shape(2, 2, 70, 50, 64, AB_F32, true),      // len_q > len_k: leading rows see no key
      shape(2, 1, 33, 45, 40, AB_F32, false),     // head dim not a multiple of 32
      shape(4, 2, 97, 97, 128, AB_BF16, true),
      shape(2, 1, 80, 80, 64, AB_F16, true),
  };
  for (const Shape& s : shapes)
    for (const char* variant : {"naive", "flash"}) {
      INFO(variant << " " << describe(s));
      BackwardCase c = make_backward_case(s, 17u + s.len_q);
      const Errors e = run_backward_case(variant, c);
      CHECK(e.dq <= tolerance(s.dtype));
      CHECK(e.dk <= tolerance(s.dtype));
      CHECK(e.dv <= tolerance(s.dtype));
    }
}

TEST_CASE("CPU backward: flash over several key blocks and query heads agrees with naive", "[cpu][backward]") {
  // 300 keys: five key blocks, the last partial; 8 query heads on 2 KV heads.
  BackwardCase a = make_backward_case(shape(8, 2, 300, 300, 64, AB_F32, true), 5);
  BackwardCase b = make_backward_case(shape(8, 2, 300, 300, 64, AB_F32, true), 5);
  const Errors ea = run_backward_case("flash", a), eb = run_backward_case("naive", b);
  CHECK(ea.dq <= 1e-5);
  CHECK(ea.dk <= 1e-5);
  CHECK(ea.dv <= 1e-5);
  CHECK(eb.dq <= 1e-5);
  CHECK(eb.dk <= 1e-5);
  CHECK(eb.dv <= 1e-5);
}

TEST_CASE("CPU backward: refusals carry a reason", "[cpu][backward]") {
  BackwardCase c = make_backward_case(shape(2, 1, 8, 8, 64, AB_F32, true), 3);
  ab_attention_args a = c.args.fwd;
  CHECK(cpu::supports_backward("flash", a).ok());
  CHECK(cpu::supports_backward("naive", a).ok());
  const cpu::Check other = cpu::supports_backward("decode", a);
  CHECK(other.status == AB_UNSUPPORTED);
  CHECK_THAT(other.reason, Catch::Contains("naive and flash"));
  a.softcap = 30.0f;
  CHECK_THAT(cpu::supports_backward("flash", a).reason, Catch::Contains("softcap"));
  a.softcap = 0.0f;
  const int32_t lens[2] = {8, 5};
  a.seq_len_k = lens;
  CHECK_THAT(cpu::supports_backward("flash", a).reason, Catch::Contains("varlen"));
  a.seq_len_k = nullptr;
  a.len_q = a.len_k = 40000;
  CHECK_THAT(cpu::supports_backward("naive", a).reason, Catch::Contains("4 GiB"));
  CHECK(cpu::supports_backward("flash", a).ok());
}
