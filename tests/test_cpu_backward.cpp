// CPU backward passes (naive, flash) against the fp64 oracle's gradients.
#include <catch2/catch.hpp>

#include "reference_backward.h"
#include "test_backward_case.h"

using namespace cpu_test;

namespace {

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
