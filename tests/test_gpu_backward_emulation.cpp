// The GPU backends' backward kernels on the CPU: the emulation (same tiles, query ranges
// and P / dS rule as backward_attention.cuh, backends/gpu/backward_emulation.cpp) against
// the fp64 gradient oracle, and the shared tiling helpers against brute force.
#include <catch2/catch.hpp>

#include "backward_emulation.h"
#include "backward_math.h"
#include "capabilities.h"
#include "test_backward_case.h"

using namespace cpu_test;
using namespace attnbench::gpu;

namespace {

struct Errors {
  double dq, dk, dv;
};

/// Runs the emulation of `variant` on a case's fp32 values (O decoded from its stored
/// dtype), stores the gradients in the case's dtype as the kernels do, and returns their
/// relative L2 errors against the fp64 oracle.
Errors emulate_case(const char* variant, BackwardCase& c) {
  const Shape& s = c.fwd.shape;
  const ab_attention_args& a = c.args.fwd;
  std::vector<float> o(c.fwd.qf.size()), dq(c.fwd.qf.size(), NAN), dk(c.fwd.kf.size(), NAN), dv(c.fwd.vf.size(), NAN);
  decode(s.dtype, c.fwd.o.data(), o.data(), o.size());
  const BackwardTensors t{c.fwd.qf.data(), c.fwd.kf.data(), c.fwd.vf.data(), o.data(), c.lse.data(),
                          c.dof.data(), dq.data(), dk.data(), dv.data()};
  if (std::string(variant) == "naive") emulate_naive_backward(a, t);
  else emulate_flash_backward(a, t);
  std::vector<double> rq(dq.size()), rk(dk.size()), rv(dv.size());
  reference_backward(a, c.fwd.qf.data(), c.fwd.kf.data(), c.fwd.vf.data(), c.dof.data(), rq.data(), rk.data(),
                     rv.data());
  return {rel_error(s.dtype, store_rounded(s.dtype, dq), rq), rel_error(s.dtype, store_rounded(s.dtype, dk), rk),
          rel_error(s.dtype, store_rounded(s.dtype, dv), rv)};
}

}  // namespace

TEST_CASE("GPU backward emulation: flash and naive gradients match the fp64 oracle", "[gpu][backward]") {
  for (const Shape& s : gpu_backward_shapes())
    for (const char* variant : {"naive", "flash"}) {
      INFO(variant << " " << describe(s));
      BackwardCase c = make_backward_case(s, 31u + s.len_q + s.head_dim);
      const Errors e = emulate_case(variant, c);
      INFO("dq " << e.dq << " dk " << e.dk << " dv " << e.dv);
      CHECK(e.dq <= tolerance(s.dtype));
      CHECK(e.dk <= tolerance(s.dtype));
      CHECK(e.dv <= tolerance(s.dtype));
    }
}

TEST_CASE("GPU backward emulation: several key blocks and query tiles per head", "[gpu][backward]") {
  // 300 keys: ten key blocks of 32, the last partial; 8 query heads on 2 KV heads, so a
  // block sums four heads' tiles; len_q > len_k leaves the first rows without keys.
  for (auto [lq, lk] : {std::pair{300, 300}, std::pair{320, 260}})
    for (int d : {64, 128}) {
      BackwardCase c = make_backward_case(shape(8, 2, lq, lk, d, AB_F32, true), 5);
      INFO("lq " << lq << " lk " << lk << " d " << d);
      const Errors e = emulate_case("flash", c);
      CHECK(e.dq <= 1e-5);
      CHECK(e.dk <= 1e-5);
      CHECK(e.dv <= 1e-5);
    }
}

TEST_CASE("GPU backward: the query range of a key block is exactly the rows that see it", "[gpu][backward]") {
  const MaskHook masks[] = {{0, -1, -1}, {1, -1, -1}, {1, 17, -1}, {0, 9, 4}, {0, -1, 3}, {1, 0, -1}};
  for (const MaskHook& m : masks)
    for (auto [lq, lk] : {std::pair{37, 77}, std::pair{77, 37}, std::pair{64, 64}, std::pair{1, 50}})
      for (int k0 = 0; k0 < lk; k0 += 32) {
        const int k1 = std::min(k0 + 32, lk);
        const KeyRange r = queries_for_keys(m, k0, k1, lq, lk);
        int first = -1, last = -1;  // brute force: rows with a visible key in [k0, k1)
        for (int i = 0; i < lq; ++i)
          for (int j = k0; j < k1; ++j)
            if (m.visible(i, j, lq, lk)) {
              if (first < 0) first = i;
              last = i;
            }
        INFO("mask " << m.causal << "," << m.window_left << "," << m.window_right << " lq " << lq << " lk " << lk
                     << " keys " << k0 << ".." << k1 << " got [" << r.lo << ", " << r.hi << ")");
        if (first < 0) {
          CHECK(r.empty());
        } else {
          CHECK(r.lo == first);
          CHECK(r.hi == last + 1);
        }
      }
}

TEST_CASE("GPU backward: P and dS of one pair, masked pairs and rows without keys", "[gpu][backward]") {
  const LogitsHook lg{0.5f, 0.0f};
  // logit = 0.5 * 2 = 1, lse = 1 + log 4: P = 1/4; dS = 1/4 * (3 - 1) = 0.5.
  const BwdPair pr = bwd_p_ds(2.0f, 3.0f, lg, 1.0f + std::log(4.0f), 1.0f, true);
  CHECK(pr.p == Approx(0.25f));
  CHECK(pr.ds == Approx(0.5f));
  const BwdPair masked = bwd_p_ds(2.0f, 3.0f, lg, -INFINITY, 1.0f, false);
  CHECK(masked.p == 0.0f);
  CHECK(masked.ds == 0.0f);
}

TEST_CASE("GPU backward: refusals match the CPU backward's", "[gpu][backward]") {
  ab_attention_args a{};
  a.batch = 1;
  a.heads_q = a.heads_kv = 1;
  a.len_q = a.len_k = 8;
  a.head_dim = 64;
  a.scale = 0.125f;
  CHECK(backward_unsupported_reason("flash", a) == nullptr);
  CHECK(backward_unsupported_reason("naive", a) == nullptr);
  CHECK_THAT(backward_unsupported_reason("decode", a), Catch::Contains("naive and flash"));
  CHECK_THAT(backward_unsupported_reason("flash:block=64", a), Catch::Contains("naive and flash"));
  a.softcap = 30.0f;
  CHECK_THAT(backward_unsupported_reason("flash", a), Catch::Contains("softcap"));
  a.softcap = 0.0f;
  const int32_t lens[1] = {5};
  a.seq_len_k = lens;
  CHECK_THAT(backward_unsupported_reason("naive", a), Catch::Contains("varlen"));
  a.seq_len_k = nullptr;
  a.page_size = 16;
  CHECK_THAT(backward_unsupported_reason("flash", a), Catch::Contains("contiguous"));
  a.page_size = 0;
  a.head_dim_v = 32;
  CHECK_THAT(backward_unsupported_reason("flash", a), Catch::Contains("head_dim_v"));
  a.head_dim_v = 0;
  a.head_dim = 200;
  CHECK_THAT(backward_unsupported_reason("flash", a), Catch::Contains("128"));
  CHECK(backward_unsupported_reason("naive", a) == nullptr);
  CHECK(naive_backward_workspace_bytes(a) == 2 * 8 * 8 * sizeof(float));
}
