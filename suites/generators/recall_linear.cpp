#include "recall_linear.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "counter_rng.h"
// Shared with the CPU linear-attention kernels (header-only).
#include "../../backends/cpu/kernels/linear_feature_maps.h"

namespace attnbench::recall {
namespace {

std::vector<double> features(FeatureMap f, const double* x, int d) {
  const auto kind = f == FeatureMap::elu1 ? linear_attn::FeatureKind::elu1 : linear_attn::FeatureKind::taylor;
  std::vector<double> phi(static_cast<size_t>(linear_attn::feature_dim(kind, d, 0)));
  linear_attn::apply_feature_map<double>(kind, x, d, nullptr, 0, phi.data());
  return phi;
}

}  // namespace

int64_t feature_dim(FeatureMap f, int32_t d) {
  switch (f) {
    case FeatureMap::softmax: return 0;
    case FeatureMap::taylor2: return 1 + d + static_cast<int64_t>(d) * d;
    case FeatureMap::elu1: return d;
  }
  return 0;
}

std::string feature_map_name(FeatureMap f) {
  return f == FeatureMap::softmax ? "softmax" : f == FeatureMap::taylor2 ? "taylor2" : "elu1";
}

double mqar_accuracy(const MqarProbe& p, FeatureMap f) {
  const int N = p.n_pairs, d = p.key_dim, dv = p.value_dim;
  const gen::StreamKey kk{p.seed, 0x6d716172ull, 1}, vk{p.seed, 0x6d716172ull, 2}, qk{p.seed, 0x6d716172ull, 3};
  std::vector<double> K(static_cast<size_t>(N) * d), V(static_cast<size_t>(N) * dv);
  for (int n = 0; n < N; ++n) {  // random keys of norm key_norm, random value code words
    double s = 0;
    for (int i = 0; i < d; ++i) s += std::pow(K[n * d + i] = kk.normal(static_cast<uint64_t>(n) * d + i), 2);
    for (int i = 0; i < d; ++i) K[n * d + i] *= p.key_norm / std::sqrt(s);
    for (int i = 0; i < dv; ++i) V[n * dv + i] = vk.normal(static_cast<uint64_t>(n) * dv + i);
  }
  // Linear attention: build the recurrent state once (all pairs precede the queries).
  std::vector<double> S, z;
  int64_t D = 0;
  if (f != FeatureMap::softmax) {
    D = feature_dim(f, d);
    S.assign(static_cast<size_t>(D) * dv, 0.0), z.assign(D, 0.0);
    for (int n = 0; n < N; ++n) {
      const auto phi = features(f, &K[n * d], d);
      for (int64_t a = 0; a < D; ++a) {
        z[a] += phi[a];
        for (int i = 0; i < dv; ++i) S[a * dv + i] += phi[a] * V[n * dv + i];
      }
    }
  }
  int correct = 0;
  std::vector<double> o(dv);
  for (int qi = 0; qi < p.n_queries; ++qi) {
    const int target = static_cast<int>(qk.uniform(qi) * N);
    const double* q = &K[target * d];
    std::fill(o.begin(), o.end(), 0.0);
    if (f == FeatureMap::softmax) {
      std::vector<double> s(N);
      double m = -INFINITY, Z = 0;
      for (int n = 0; n < N; ++n) {
        double dot = 0;
        for (int i = 0; i < d; ++i) dot += q[i] * K[n * d + i];
        m = std::max(m, s[n] = dot / std::sqrt(static_cast<double>(d)));
      }
      for (int n = 0; n < N; ++n) Z += (s[n] = std::exp(s[n] - m));
      for (int n = 0; n < N; ++n)
        for (int i = 0; i < dv; ++i) o[i] += s[n] / Z * V[n * dv + i];
    } else {
      const auto phi = features(f, q, d);
      double den = 0;
      for (int64_t a = 0; a < D; ++a) {
        den += phi[a] * z[a];
        for (int i = 0; i < dv; ++i) o[i] += phi[a] * S[a * dv + i];
      }
      for (auto& x : o) x /= den;
    }
    int best = 0;
    double bc = -INFINITY;
    for (int n = 0; n < N; ++n) {  // nearest value code word by cosine
      double dot = 0, nn = 0;
      for (int i = 0; i < dv; ++i) dot += o[i] * V[n * dv + i], nn += V[n * dv + i] * V[n * dv + i];
      if (dot / std::sqrt(nn) > bc) bc = dot / std::sqrt(nn), best = n;
    }
    correct += best == target;
  }
  return static_cast<double>(correct) / p.n_queries;
}

}  // namespace attnbench::recall
