// The recall generator: determinism, the designed structure (sinks, locality, needles
// retrievable with the designed margin), every RULER-style task, and the knobs.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>

#include "test_kv_backend.h"
#include "recall_tasks.h"

using namespace attnbench;
using namespace attnbench::recall;

namespace {

RecallKnobs small_knobs(uint64_t seed = 7) {
  RecallKnobs k;
  k.seed = seed;
  return k;
}

// Causal softmax row t of query head h over keys 0..t.
std::vector<double> context_row(const RecallCase& c, int h, int t) {
  const int d = c.head_dim, g = c.heads_q / c.heads_kv;
  std::vector<double> p(t + 1);
  double m = -INFINITY, z = 0;
  for (int s = 0; s <= t; ++s) {
    double dot = 0;
    for (int i = 0; i < d; ++i)
      dot += double(c.q_context[(size_t(h) * c.len_k + t) * d + i]) * c.k[(size_t(h / g) * c.len_k + s) * d + i];
    m = std::max(m, p[s] = dot / std::sqrt(double(d)));
  }
  for (auto& x : p) z += (x = std::exp(x - m));
  for (auto& x : p) x /= z;
  return p;
}

double key_norm(const RecallCase& c, int j, int t) {
  double s = 0;
  for (int i = 0; i < c.head_dim; ++i) s += std::pow(c.k[(size_t(j) * c.len_k + t) * c.head_dim + i], 2);
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("same seed gives identical tensors, a different seed different ones", "[recall]") {
  TaskParams p;
  p.len_k = 512;
  const auto a = make_task(p, small_knobs(3)), b = make_task(p, small_knobs(3)), c = make_task(p, small_knobs(4));
  CHECK(a.k == b.k);
  CHECK(a.v == b.v);
  CHECK(a.q_context == b.q_context);
  CHECK(a.q_question == b.q_question);
  CHECK(a.needle_positions == b.needle_positions);
  CHECK(a.k != c.k);
  CHECK(a.q_question != c.q_question);
  RecallKnobs other_case = small_knobs(3);
  other_case.case_hash = 99;
  CHECK(make_task(p, other_case).k != a.k);
}

TEST_CASE("exact attention retrieves every planted needle with the designed margin", "[recall]") {
  // RULER single needle over lengths x depths: full attention must be perfect, and the
  // measured log-odds margin of the answer must be close to the design (log(Lk) dilution
  // is part of the design, so the margin holds at every length).
  for (int L : {512, 1024, 2048}) {
    for (const auto& cell : depth_grid({L}, 5)) {
      TaskParams p;
      p.len_k = cell.len_k, p.depth = cell.depth;
      RecallKnobs kn = small_knobs(11 + L);
      const auto c = make_task(p, kn);
      INFO("L=" << L << " depth=" << cell.depth << " needle logit=" << c.needle_logit);
      for (double m : c.measured_margin) {
        CHECK(m > c.designed_margin - 1.5);
        CHECK(m < c.designed_margin + 2.5);
      }
      const auto r = kvtest::run_recall_case(c, "full");
      REQUIRE(r.ok);
      CHECK(r.accuracy == 1.0);
      CHECK(r.mass_kept == Approx(1.0));
      CHECK(r.output_error < 1e-6);
    }
  }
}

TEST_CASE("margin knob: a smaller margin gives a smaller measured margin; infeasible margins throw", "[recall]") {
  TaskParams p;
  p.len_k = 1024;
  RecallKnobs lo = small_knobs(), hi = small_knobs();
  lo.needle_margin = 1.0, hi.needle_margin = 6.0;
  const auto a = make_task(p, lo), b = make_task(p, hi);
  const double ma = std::accumulate(a.measured_margin.begin(), a.measured_margin.end(), 0.0) / a.measured_margin.size();
  const double mb = std::accumulate(b.measured_margin.begin(), b.measured_margin.end(), 0.0) / b.measured_margin.size();
  CHECK(mb - ma == Approx(5.0).margin(1.5));
  RecallKnobs bad = small_knobs();
  bad.needle_margin = 40.0;
  CHECK_THROWS_AS(make_task(p, bad), std::invalid_argument);
}

TEST_CASE("sinks draw large attention with low key norm and near-zero values (StreamingLLM, Devoto et al.)", "[recall]") {
  TaskParams p;
  p.len_k = 1024;
  const auto c = make_task(p, small_knobs());
  double sink_mass = 0, prev_mass = 0;
  int rows = 0;
  for (int t = 200; t < 800; t += 50) {
    const auto a = context_row(c, 0, t);
    for (int s = 0; s < c.n_sinks; ++s) sink_mass += a[s];
    prev_mass += a[t - 1];
    ++rows;
  }
  sink_mass /= rows, prev_mass /= rows;
  CHECK(sink_mass > 0.3);          // sinks draw a large share
  CHECK(prev_mass > 20.0 / 1024);  // previous token far above uniform (local RoPE kernel)
  double min_hay = 1e30, max_sink = 0, sink_v = 0, hay_v = 0;
  for (int t = 0; t < c.len_k; ++t) {
    const double n = key_norm(c, 0, t);
    if (t < c.n_sinks) max_sink = std::max(max_sink, n);
    else min_hay = std::min(min_hay, n);
    double vn = 0;
    for (int i = 0; i < c.head_dim; ++i) vn += std::pow(c.v[size_t(t) * c.head_dim + i], 2);
    (t < c.n_sinks ? sink_v : hay_v) += std::sqrt(vn) / (t < c.n_sinks ? c.n_sinks : c.len_k - c.n_sinks);
  }
  CHECK(max_sink < min_hay);   // sinks have the lowest key norm
  CHECK(sink_v < 0.05 * hay_v);  // and carry little
}

TEST_CASE("context queries attend the needle only when the knob is on", "[recall]") {
  TaskParams p;
  p.len_k = 1024, p.depth = 0.3;
  RecallKnobs off = small_knobs(), on = small_knobs();
  on.context_attends_needle = true;
  const auto a = make_task(p, off), b = make_task(p, on);
  auto acc = [](const RecallCase& c) {
    const int pos = c.needle_positions[0];
    double s = 0;
    for (int t = pos + 2; t < c.tail_start; ++t) s += context_row(c, 0, t)[pos];
    return s;
  };
  const double sa = acc(a), sb = acc(b);
  INFO("accumulated attention on needle: off=" << sa << " on=" << sb);
  CHECK(sb > 10 * sa);
}

TEST_CASE("every RULER-style task and MQAR past d is solved by exact attention", "[recall]") {
  for (auto t : {RecallTask::single_needle, RecallTask::multi_key, RecallTask::multi_value, RecallTask::multi_query,
                 RecallTask::passkey, RecallTask::mqar}) {
    TaskParams p;
    p.task = t, p.len_k = 1024, p.depth = 0.4, p.n_pairs = 128;  // 128 pairs > d = 64
    const auto c = make_task(p, small_knobs(21));
    INFO(task_name(t));
    CHECK(parse_task(task_name(t)) == t);
    const auto r = kvtest::run_recall_case(c, "full");
    REQUIRE(r.ok);
    CHECK(r.accuracy == 1.0);
    if (t == RecallTask::mqar) CHECK(c.needle_positions.size() == 128);
    if (t == RecallTask::multi_value) CHECK(c.expected[0].size() == 2);
  }
}
