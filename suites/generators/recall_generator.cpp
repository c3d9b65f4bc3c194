#include "recall_generator.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "counter_rng.h"

namespace attnbench::recall {
namespace {

using gen::StreamKey;

// Stream ids private to the recall generator (uniform_tensors uses 1..4).
enum : uint64_t {
  kDir = 101, kSinkDir = 102, kHayK = 103, kHayV = 104, kCtxNoise = 105, kQNoise = 106,
  kCodebook = 107, kLayout = 108, kDistract = 109, kSinkV = 110, kCtxNeedle = 111,
  kRetrievalHeads = 112
};

struct Geometry {
  int d, rd, dc, np;       // head dim, rotary dims, content dims, rotary pairs
  double rho_k, rho_q;     // rotary amplitudes of keys / context queries
  double typical_norm;     // median haystack key norm (analytic)
  double beta, kappa;      // needle / sink key content norms
  double alpha;            // question query norm along u
  double gamma_sink;       // context query component along z per unit of sink logit
  double tau;              // per-dim std of context query content noise
  std::vector<double> theta;
};

StreamKey stream(const RecallKnobs& k, uint64_t id) {
  return StreamKey{k.seed, k.case_hash ^ gen::mix64(0x7265636131ull + static_cast<uint64_t>(k.layer)), id};
}

// Unit vector in content space from a stream slice, orthogonal to `away` (if given).
std::vector<double> unit_vec(const StreamKey& s, uint64_t base, int n,
                             std::initializer_list<const std::vector<double>*> away) {
  std::vector<double> u(n);
  for (int i = 0; i < n; ++i) u[i] = s.normal(base + i);
  for (const std::vector<double>* a : away) {  // orthonormal directions: one Gram-Schmidt step each
    if (!a) continue;
    double dot = 0;
    for (int i = 0; i < n; ++i) dot += u[i] * (*a)[i];
    for (int i = 0; i < n; ++i) u[i] -= dot * (*a)[i];
  }
  double nn = 0;
  for (double x : u) nn += x * x;
  nn = std::sqrt(nn);
  for (double& x : u) x /= nn;
  return u;
}

// Writes the RoPE positional code R(pos) a (a has amplitude amp/sqrt(np) per pair).
void rotary(const Geometry& g, double amp, double pos, float* out) {
  const double a = amp / std::sqrt(static_cast<double>(g.np));
  for (int i = 0; i < g.np; ++i) {
    out[2 * i] = static_cast<float>(a * std::cos(pos * g.theta[i]));
    out[2 * i + 1] = static_cast<float>(a * std::sin(pos * g.theta[i]));
  }
}

double logsumexp(const std::vector<double>& x) {
  if (x.empty()) return -INFINITY;
  const double m = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

}  // namespace

double solve_needle_logit(double n_haystack, double sigma_over_beta, int n_distractors,
                          double distractor_cos, double margin) {
  // f(L) = L - log(n e^{(L s)^2/2} + nd e^{cL}) - m; the smallest root is the design
  // point (the haystack term grows quadratically, so f turns negative again for large L).
  const double s2 = sigma_over_beta * sigma_over_beta;
  auto f = [&](double L) {
    const double a = std::log(std::max(n_haystack, 1.0)) + 0.5 * L * L * s2;
    const double b = n_distractors > 0 ? std::log(static_cast<double>(n_distractors)) + distractor_cos * L : -INFINITY;
    const double m = std::max(a, b);
    return L - (m + std::log(std::exp(a - m) + std::exp(b - m))) - margin;
  };
  double lo = 0.0;
  for (double L = 0.0; L < 400.0; L += 0.05) {
    if (f(L) >= 0) {
      double hi = L;
      for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        (f(mid) >= 0 ? hi : lo) = mid;
      }
      return hi;
    }
    lo = L;
  }
  return -1.0;
}

RecallCase generate_recall(const RecallKnobs& kn, const RecallLayout& lay) {
  if (kn.heads_kv <= 0 || kn.heads_q % kn.heads_kv != 0) throw std::invalid_argument("recall: heads_q must be a multiple of heads_kv");
  if (kn.rope_dims % 2 || kn.rope_dims < 2 || kn.rope_dims > kn.head_dim - 4)
    throw std::invalid_argument("recall: rope_dims must be even, >= 2 and leave >= 4 content dims");
  const int nq = static_cast<int>(lay.questions.size());
  const int Lk = lay.len_k, Hq = kn.heads_q, Hkv = kn.heads_kv, grp = Hq / Hkv;
  const int tail = nq * kn.question_tokens;
  if (Lk < kn.n_sinks + tail + 8) throw std::invalid_argument("recall: len_k too small for sinks + needles + question tail");
  if (kn.n_codewords < 2) throw std::invalid_argument("recall: need >= 2 code words");
  if (kn.n_sinks > 0 && kn.sink_key_norm_ratio <= 0) throw std::invalid_argument("recall: sink_key_norm_ratio must be > 0");
  if (kn.question_tokens < 1) throw std::invalid_argument("recall: question_tokens must be >= 1");

  Geometry g{};
  g.d = kn.head_dim, g.rd = kn.rope_dims, g.dc = g.d - g.rd, g.np = g.rd / 2;
  for (int i = 0; i < g.np; ++i) g.theta.push_back(std::pow(kn.rope_base, -2.0 * i / g.rd));
  const double sig = kn.key_content_std, sqd = std::sqrt(static_cast<double>(g.d));
  g.rho_k = sig * std::sqrt(static_cast<double>(g.rd));  // same energy per dim as content
  g.rho_q = kn.local_logit * sqd / g.rho_k;
  g.typical_norm = sig * sqd;
  const double needle_norm = kn.needle_key_norm_ratio * g.typical_norm;
  if (needle_norm <= g.rho_k * 1.05)
    throw std::invalid_argument("recall: needle_key_norm_ratio too low for the rotary part; raise it or lower rope_dims");
  g.beta = std::sqrt(needle_norm * needle_norm - g.rho_k * g.rho_k);
  g.kappa = kn.sink_key_norm_ratio * g.typical_norm;
  g.gamma_sink = sqd / g.kappa;  // query component per unit of sink logit
  g.tau = kn.context_noise_logit_std * sqd / (sig * std::sqrt(static_cast<double>(g.dc)));

  RecallCase c;
  c.heads_q = Hq, c.heads_kv = Hkv, c.len_k = Lk, c.head_dim = g.d, c.n_questions = nq;
  c.n_codewords = kn.n_codewords, c.n_sinks = kn.n_sinks, c.tail_start = Lk - tail;
  c.designed_margin = kn.needle_margin;

  // Margin design: answers of the largest question set share the needle logit.
  int max_answers = 1;
  for (const auto& q : lay.questions) max_answers = std::max<int>(max_answers, q.expected.size());
  const double n_hay = Lk - max_answers - kn.n_distractors;
  const double L = solve_needle_logit(n_hay, sig / g.beta, kn.n_distractors, kn.distractor_cos,
                                      kn.needle_margin - std::log(static_cast<double>(max_answers)));
  if (L <= 0) throw std::invalid_argument("recall: needle_margin infeasible against log(Lk) dilution; lower it or raise needle_key_norm_ratio/head_dim");
  c.needle_logit = L;
  g.alpha = L * sqd / g.beta;

  // Retrieval heads: the drawn KV heads' questions look up the needle; the others are
  // streaming heads whose question rows are ordinary context queries (previous token and
  // sinks), as DuoAttention finds most heads to be.
  if (kn.retrieval_kv_heads < 0 || kn.retrieval_kv_heads > Hkv)
    throw std::invalid_argument("recall: retrieval_kv_heads must be in 0..heads_kv");
  c.judged_head.assign(Hq, 1);
  if (kn.retrieval_kv_heads > 0 && kn.retrieval_kv_heads < Hkv) {
    const StreamKey rs = stream(kn, kRetrievalHeads);
    std::vector<int> order(Hkv);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return rs.uniform(a) < rs.uniform(b); });
    for (int r = kn.retrieval_kv_heads; r < Hkv; ++r) std::fill_n(c.judged_head.begin() + order[r] * grp, grp, 0);
  }

  // Directions per KV head: sink direction z, needle directions u (orthogonal to z).
  std::vector<std::vector<double>> z(Hkv);
  std::vector<std::vector<std::vector<double>>> u(Hkv);
  for (int j = 0; j < Hkv; ++j) {
    z[j] = unit_vec(stream(kn, kSinkDir), static_cast<uint64_t>(j) * g.dc, g.dc, {});
    for (int a = 0; a < lay.n_directions; ++a)
      u[j].push_back(unit_vec(stream(kn, kDir), (static_cast<uint64_t>(j) * lay.n_directions + a) * g.dc, g.dc, {&z[j]}));
  }
  c.codebook.resize(static_cast<size_t>(kn.n_codewords) * g.d);
  for (int w = 0; w < kn.n_codewords; ++w) {
    auto cw = unit_vec(stream(kn, kCodebook), static_cast<uint64_t>(w) * g.d, g.d, {});
    for (int i = 0; i < g.d; ++i) c.codebook[static_cast<size_t>(w) * g.d + i] = static_cast<float>(cw[i] * kn.value_std * sqd);
  }

  // Token roles: -1 haystack, -2 sink, >= 0 needle index, <= -10 distractor.
  std::vector<int> role(Lk, -1);
  for (int p = 0; p < kn.n_sinks; ++p) role[p] = -2;
  const int lo = kn.n_sinks, hi = c.tail_start;  // needle region [lo, hi)
  std::vector<int> needle_pos;
  for (size_t n = 0; n < lay.needles.size(); ++n) {
    int p = lo + static_cast<int>(std::lround(std::clamp(lay.needles[n].depth, 0.0, 1.0) * (hi - 1 - lo)));
    for (int tries = 0; role[p] != -1 && tries < hi - lo; ++tries) p = (p + 1 < hi) ? p + 1 : lo;
    if (role[p] != -1) throw std::invalid_argument("recall: more needles than haystack positions");
    role[p] = static_cast<int>(n);
    needle_pos.push_back(p);
  }
  c.needle_positions = needle_pos;
  // Distractors: per question, keys at cosine c to its u with other code words.
  struct Distractor { int dir, codeword, index; };
  std::vector<Distractor> distractors;
  const StreamKey lays = stream(kn, kLayout);
  uint64_t ctr = 0;
  for (int qi = 0; qi < nq; ++qi) {
    for (int k = 0; k < kn.n_distractors; ++k) {
      int p = -1;
      for (int tries = 0; tries < 1000 && p < 0; ++tries) {
        const int cand = lo + static_cast<int>(lays.uniform(ctr++) * (hi - lo));
        if (role[cand] == -1) p = cand;
      }
      if (p < 0) throw std::invalid_argument("recall: no room for distractors");
      int cw;
      do cw = static_cast<int>(lays.uniform(ctr++) * kn.n_codewords);
      while (std::find(lay.questions[qi].expected.begin(), lay.questions[qi].expected.end(), cw) != lay.questions[qi].expected.end());
      role[p] = -10 - static_cast<int>(distractors.size());
      distractors.push_back({lay.questions[qi].direction, cw, static_cast<int>(distractors.size())});
      c.distractor_positions.push_back(p);
    }
  }

  // Keys and values.
  c.k.assign(static_cast<size_t>(Hkv) * Lk * g.d, 0.f);
  c.v.assign(c.k.size(), 0.f);
  const StreamKey hk = stream(kn, kHayK), hv = stream(kn, kHayV), sv = stream(kn, kSinkV), ds = stream(kn, kDistract);
  tbb::parallel_for(0, Hkv * Lk, [&](int row) {
    const int j = row / Lk, p = row % Lk;
    float* kr = &c.k[static_cast<size_t>(row) * g.d];
    float* vr = &c.v[static_cast<size_t>(row) * g.d];
    float* kc = kr + g.rd;
    const int r = role[p];
    const auto setv = [&](const std::vector<double>& x, double s) { for (int i = 0; i < g.dc; ++i) kc[i] = static_cast<float>(s * x[i]); };
    if (r == -2) {  // sink: low-norm key along z, no positional code, near-zero value
      setv(z[j], g.kappa);
      for (int i = 0; i < g.d; ++i) vr[i] = static_cast<float>(kn.sink_value_scale * kn.value_std * sv.normal(static_cast<uint64_t>(row) * g.d + i));
      return;
    }
    rotary(g, g.rho_k, p, kr);
    if (r >= 0) {  // needle
      setv(u[j][lay.needles[r].direction], g.beta);
      std::copy_n(&c.codebook[static_cast<size_t>(lay.needles[r].codeword) * g.d], g.d, vr);
    } else if (r <= -10) {  // distractor: c u + sqrt(1-c^2) w, w orthogonal to u
      const Distractor& dd = distractors[-10 - r];
      const auto& uu = u[j][dd.dir];
      // w is orthogonal to the sink direction too: a z component would meet every context
      // query's sink pull and turn distractors into extra sinks (generator version 1 did).
      auto w = unit_vec(ds, (static_cast<uint64_t>(j) * 4096 + dd.index) * g.dc, g.dc, {&uu, &z[j]});
      std::vector<double> x(g.dc);
      const double cc = kn.distractor_cos;
      for (int i = 0; i < g.dc; ++i) x[i] = cc * uu[i] + std::sqrt(1 - cc * cc) * w[i];
      setv(x, g.beta);
      std::copy_n(&c.codebook[static_cast<size_t>(dd.codeword) * g.d], g.d, vr);
    } else {  // haystack: random content with the sink direction projected out
      const uint64_t src = kn.haystack_period > 0 ? static_cast<uint64_t>(p % kn.haystack_period) : static_cast<uint64_t>(p);
      const uint64_t base = (static_cast<uint64_t>(j) * (1ull << 32) + src) * g.d;
      std::vector<double> x(g.dc);
      double dot = 0;
      for (int i = 0; i < g.dc; ++i) x[i] = sig * hk.normal(base + i), dot += x[i] * z[j][i];
      for (int i = 0; i < g.dc; ++i) kc[i] = static_cast<float>(x[i] - dot * z[j][i]);
      for (int i = 0; i < g.d; ++i) vr[i] = static_cast<float>(kn.value_std * hv.normal(base + i));
    }
  });

  // Question decode queries: alpha (u + noise), no positional code; a streaming head's
  // is a context query at position Lk (its own noise counters, past every prompt row's).
  c.q_question.assign(static_cast<size_t>(Hq) * nq * g.d, 0.f);
  const StreamKey qn = stream(kn, kQNoise), cn = stream(kn, kCtxNoise);
  const auto question_vec = [&](int h, int dir, uint64_t noise_row, float* out) {
    const auto& uu = u[h / grp][dir];
    const double e = kn.question_noise / std::sqrt(static_cast<double>(g.dc));
    for (int i = 0; i < g.dc; ++i) out[i] = static_cast<float>(g.alpha * (uu[i] + e * qn.normal(noise_row * g.dc + i)));
  };
  const auto add_sink_pull = [&](int j, int t, float* qc) {
    if (kn.n_sinks <= 0) return;
    const double sink_l = kn.sink_logit + std::log((t + 1.0) / kn.n_sinks);
    for (int i = 0; i < g.dc; ++i) qc[i] += static_cast<float>(sink_l * g.gamma_sink * z[j][i]);
  };
  for (int h = 0; h < Hq; ++h)
    for (int qi = 0; qi < nq; ++qi) {
      float* q = &c.q_question[(static_cast<size_t>(h) * nq + qi) * g.d];
      if (recall::judged(c, h)) {
        question_vec(h, lay.questions[qi].direction, static_cast<uint64_t>(h) * 65536 + qi, q + g.rd);
        continue;
      }
      rotary(g, g.rho_q, Lk - 1.0, q);
      const uint64_t noise_row = (1ull << 41) + static_cast<uint64_t>(h) * 65536 + qi;
      for (int i = 0; i < g.dc; ++i) q[g.rd + i] = static_cast<float>(g.tau * cn.normal(noise_row * g.dc + i));
      add_sink_pull(h / grp, Lk, q + g.rd);
    }

  // Context queries: previous-token rotary code + sink pull + content noise; the tail
  // holds the question tokens (retrieval heads only); optionally some later queries look at needles.
  c.q_context.assign(static_cast<size_t>(Hq) * Lk * g.d, 0.f);
  const StreamKey cnd = stream(kn, kCtxNeedle);
  const double gamma_needle = kn.context_needle_logit * sqd / g.beta;
  tbb::parallel_for(0, Hq * Lk, [&](int row) {
    const int h = row / Lk, t = row % Lk, j = h / grp;
    float* q = &c.q_context[static_cast<size_t>(row) * g.d];
    rotary(g, g.rho_q, t - 1.0, q);
    float* qc = q + g.rd;
    if (t >= c.tail_start && kn.question_in_prompt && recall::judged(c, h)) {
      const int qi = (t - c.tail_start) / kn.question_tokens;
      question_vec(h, lay.questions[qi].direction, (1ull << 40) + static_cast<uint64_t>(row), qc);
    } else {
      for (int i = 0; i < g.dc; ++i) qc[i] = static_cast<float>(g.tau * cn.normal(static_cast<uint64_t>(row) * g.dc + i));
      if (kn.context_attends_needle)
        for (size_t n = 0; n < needle_pos.size(); ++n)
          if (t > needle_pos[n] && cnd.uniform(static_cast<uint64_t>(row) * 64 + n) < kn.context_needle_fraction)
            for (int i = 0; i < g.dc; ++i) qc[i] += static_cast<float>(gamma_needle * u[j][lay.needles[n].direction][i]);
    }
    add_sink_pull(j, t, qc);
  });

  // Expected answers and measured margins (exact fp64 logits over the full cache).
  for (const auto& q : lay.questions) {
    std::vector<int32_t> pos;
    for (size_t n = 0; n < lay.needles.size(); ++n)
      if (lay.needles[n].direction == q.direction &&
          std::find(q.expected.begin(), q.expected.end(), lay.needles[n].codeword) != q.expected.end())
        pos.push_back(needle_pos[n]);
    c.question_positions.push_back(pos);
    c.expected.push_back(q.expected);
  }
  c.measured_margin.assign(static_cast<size_t>(Hq) * nq, 0.0);
  tbb::parallel_for(0, Hq * nq, [&](int row) {
    const int h = row / nq, qi = row % nq;
    const float* q = &c.q_question[static_cast<size_t>(row) * g.d];
    std::vector<double> ans, rest;
    const auto& qp = c.question_positions[qi];
    for (int p = 0; p < Lk; ++p) {
      const float* kr = &c.k[(static_cast<size_t>(h / grp) * Lk + p) * g.d];
      double s = 0;
      for (int i = 0; i < g.d; ++i) s += static_cast<double>(q[i]) * kr[i];
      (std::find(qp.begin(), qp.end(), p) != qp.end() ? ans : rest).push_back(s / sqd);
    }
    c.measured_margin[row] = logsumexp(ans) - logsumexp(rest);
  });
  return c;
}

std::vector<int32_t> nearest_codewords(const RecallCase& c, const double* o, int32_t n) {
  const int d = c.head_dim;
  std::vector<double> cosv(c.n_codewords);
  double on = 0;
  for (int i = 0; i < d; ++i) on += o[i] * o[i];
  for (int w = 0; w < c.n_codewords; ++w) {
    double dot = 0, wn = 0;
    for (int i = 0; i < d; ++i) {
      const double x = c.codebook[static_cast<size_t>(w) * d + i];
      dot += o[i] * x, wn += x * x;
    }
    cosv[w] = dot / std::sqrt(std::max(on * wn, 1e-300));
  }
  std::vector<int32_t> idx(c.n_codewords);
  std::iota(idx.begin(), idx.end(), 0);
  n = std::min(n, c.n_codewords);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int a, int b) { return cosv[a] > cosv[b]; });
  idx.resize(n);
  return idx;
}

bool decode_correct(const RecallCase& c, int32_t question, const double* o) {
  const auto& exp = c.expected.at(question);
  auto top = nearest_codewords(c, o, static_cast<int32_t>(exp.size()));
  std::vector<int32_t> a(exp.begin(), exp.end());
  std::sort(a.begin(), a.end());
  std::sort(top.begin(), top.end());
  return a == top;
}

}  // namespace attnbench::recall
