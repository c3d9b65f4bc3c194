// Every CPU variant against the fp64 oracle on random inputs: self/cross x
// causal/non-causal, GQA/MQA, odd and empty lengths, head dims 64/80/128, all
// storage types, sliding window, softcap and varlen. Outputs are NaN-poisoned
// first, so an unwritten valid row fails.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "test_cpu_checks.h"

using namespace cpu_test;

namespace {

/// The prefill variants: flash, naive and the reference plumbing.
const char* const kPrefill[] = {"flash", "naive", "reference"};

}  // namespace

TEST_CASE("ISA level: ATTNBENCH_CPU_ISA selects the level the kernels run at", "[cpu][kernels]") {
  const char* want = std::getenv("ATTNBENCH_CPU_ISA");
  const cpu::Isa active = cpu::active_isa(), best = cpu::best_isa();
  INFO("best " << cpu::isa_name(best) << ", active " << cpu::isa_name(active) << ", requested "
               << (want ? want : "(none)"));
  CHECK(active <= best);
  if (!want || !*want) {  // unset or empty: no cap
    CHECK(active == best);
  } else {
    bool known = false;
    for (cpu::Isa i : {cpu::Isa::generic, cpu::Isa::avx2, cpu::Isa::avx512, cpu::Isa::avx512bf16})
      if (std::strcmp(cpu::isa_name(i), want) == 0) {
        known = true;
        CHECK(active == std::min(i, best));
        if (i > best) WARN("requested level " << want << " is above this CPU's best; running " << cpu::isa_name(best));
      }
    CHECK(known);
  }
}

TEST_CASE("prefill variants: self/cross x causal/non-causal, GQA groups, head dims", "[cpu][kernels]") {
  unsigned seed = 1;
  for (const char* variant : kPrefill) {
    for (bool causal : {false, true}) {
      for (auto [lq, lk] : {std::pair{100, 100}, {17, 257}, {257, 17}, {1, 100}}) {
        for (auto [hq, hkv] : {std::pair{4, 4}, {8, 2}, {4, 1}}) {
          for (int d : {64, 80, 128}) {
            Shape s;
            s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = lk;
            s.head_dim = d; s.causal = causal;
            expect_matches_oracle(variant, s, seed++);
          }
        }
      }
    }
  }
}

TEST_CASE("prefill variants: 16-bit storage", "[cpu][kernels]") {
  unsigned seed = 100;
  for (const char* variant : kPrefill)
    for (ab_dtype t : {AB_BF16, AB_F16})
      for (bool causal : {false, true})
        for (auto [lq, lk] : {std::pair{100, 257}, {257, 257}}) {
          Shape s;
          s.batch = 1; s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk;
          s.head_dim = 80; s.dtype = t; s.causal = causal;
          expect_matches_oracle(variant, s, seed++);
        }
}

TEST_CASE("prefill variants: sliding window, softcap and their combinations", "[cpu][kernels]") {
  unsigned seed = 200;
  for (const char* variant : kPrefill) {
    for (auto [left, right] : {std::pair{16, 0}, {40, 7}, {-1, 5}, {0, -1}}) {
      Shape s;
      s.batch = 1; s.heads_q = 4; s.heads_kv = 4; s.len_q = 257; s.len_k = 257; s.head_dim = 64;
      s.window_left = left; s.window_right = right; s.causal = right == 0;
      expect_matches_oracle(variant, s, seed++);
    }
    Shape s;
    s.batch = 2; s.heads_q = 4; s.heads_kv = 1; s.len_q = 100; s.len_k = 257; s.head_dim = 128;
    s.causal = true; s.softcap = 5.0f;
    expect_matches_oracle(variant, s, seed++);
    s.softcap = 30.0f; s.window_left = 33;
    expect_matches_oracle(variant, s, seed++);
  }
}

TEST_CASE("prefill variants: varlen in the padded layout", "[cpu][kernels]") {
  unsigned seed = 300;
  for (const char* variant : kPrefill) {
    for (bool causal : {false, true}) {
      Shape s;
      s.batch = 4; s.heads_q = 4; s.heads_kv = 2; s.len_q = 100; s.len_k = 130; s.head_dim = 64;
      s.causal = causal;
      s.seq_len_q = {100, 1, 0, 57};
      s.seq_len_k = {130, 17, 5, 0};  // batch 3: no keys at all -> zero rows
      expect_matches_oracle(variant, s, seed++);
    }
  }
}

TEST_CASE("prefill variants: empty and single-element shapes", "[cpu][kernels]") {
  unsigned seed = 400;
  for (const char* variant : kPrefill) {
    for (auto [lq, lk] : {std::pair{0, 17}, {17, 0}, {0, 0}, {1, 1}}) {
      Shape s;
      s.batch = 2; s.heads_q = 2; s.heads_kv = 1; s.len_q = lq; s.len_k = lk; s.head_dim = 64;
      for (bool causal : {false, true}) {
        s.causal = causal;
        expect_matches_oracle(variant, s, seed++);
      }
    }
    Shape none;  // a window that excludes every key: rows exist but see nothing
    none.heads_q = 2; none.heads_kv = 2; none.len_q = 17; none.len_k = 40; none.head_dim = 64;
    none.causal = true; none.window_left = 0; none.window_right = -1;
    none.len_q = 60;  // queries before the first key: bottom-right alignment, pos < 0
    expect_matches_oracle(variant, none, seed++);
    Shape batch0;
    batch0.batch = 0;
    expect_matches_oracle(variant, batch0, seed++);
  }
}

TEST_CASE("flash and naive agree with the oracle on a longer causal prefill", "[cpu][kernels]") {
  for (const char* variant : {"flash", "naive"}) {
    Shape s;
    s.batch = 1; s.heads_q = 2; s.heads_kv = 1; s.len_q = 700; s.len_k = 700; s.head_dim = 128;
    s.causal = true;
    expect_matches_oracle(variant, s, 500);
  }
}

TEST_CASE("the comparison itself catches a wrong kernel", "[cpu][kernels]") {
  // Guards the test harness: a kernel that read other data must fail the bound.
  Shape s;
  s.heads_q = 2; s.heads_kv = 2; s.len_q = 17; s.len_k = 17; s.head_dim = 64;
  Case c = make_case(s, 600);
  const Outcome good = run_and_compare("flash", c);
  REQUIRE(good.rel_l2 < 1e-5);
  c.kf[5] += 0.5f;  // the oracle now sees a different K than the kernel: must fail
  const Outcome bad = run_and_compare("flash", c);
  CHECK(bad.rel_l2 > 1e-5);
}

TEST_CASE("flash writes each row's natural log-sum-exp when asked (lse)", "[cpu][kernels]") {
  // The fp64 log-sum-exp of each row's visible logits (scale, softcap); -inf for a row
  // that sees no key (causal with len_q > len_k). Both the fp32 and the bf16 path.
  unsigned seed = 900;
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (bool causal : {false, true})
      for (float softcap : {0.0f, 7.0f})
        for (auto [lq, lk] : {std::pair{37, 77}, {77, 37}}) {
          Shape s;
          s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 64;
          s.dtype = t; s.causal = causal; s.softcap = softcap;
          Case c = make_case(s, seed++);
          std::vector<float> lse(static_cast<size_t>(s.batch) * s.heads_q * lq, NAN);
          c.args.lse = reinterpret_cast<ab_buffer>(lse.data());
          INFO(describe(s));
          REQUIRE(cpu::run_variant("flash", c.args).ok());
          const MaskHook mask{causal, -1, -1};
          int empty_rows = 0;
          for (int b = 0; b < s.batch; ++b)
            for (int h = 0; h < s.heads_q; ++h)
              for (int i = 0; i < lq; ++i) {
                const int hk = h / (s.heads_q / s.heads_kv);
                const KeyRange r = mask.keys_for(i, lq, lk);
                const float got = lse[(static_cast<size_t>(b) * s.heads_q + h) * lq + i];
                if (r.empty()) {
                  CHECK(got == -INFINITY);
                  ++empty_rows;
                  continue;
                }
                std::vector<double> x;
                for (int k = r.lo; k < r.hi; ++k) {
                  double dot = 0;
                  for (int e = 0; e < s.head_dim; ++e)
                    dot += double(c.qf[((size_t(b) * s.heads_q + h) * lq + i) * s.head_dim + e]) *
                           c.kf[((size_t(b) * s.heads_kv + hk) * lk + k) * s.head_dim + e];
                  dot *= c.args.scale;
                  if (softcap > 0) dot = softcap * std::tanh(dot / softcap);
                  x.push_back(dot);
                }
                const double mx = *std::max_element(x.begin(), x.end());
                double sum = 0;
                for (double v : x) sum += std::exp(v - mx);
                CHECK(std::abs(got - (mx + std::log(sum))) <= 1e-4 * std::max(1.0, std::abs(mx)));
              }
          CHECK(empty_rows == (causal && lq > lk ? s.batch * s.heads_q * (lq - lk) : 0));
        }
}
