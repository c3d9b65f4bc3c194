// Feature maps of linear attention, phi(q).phi(k) standing in for exp(q.k): header-only
// and templated on the scalar type so the CPU kernels (fp32) and the MQAR probe
// (suites/generators/recall_linear, fp64) share one definition.
//   elu1      elu(x) + 1 (Katharopoulos et al. 2020), dim n
//   relu      max(x, 0), dim n
//   taylor    BASED 2nd-order Taylor of exp(q.k / sqrt(n)):
//             [1, x / n^(1/4), vec(x x^T) / sqrt(2n)], dim 1 + n + n^2
//   performer positive random features exp(w.x' - |x'|^2 / 2) / sqrt(m), x' = x / n^(1/4),
//             w ~ N(0, I_n) from a fixed seed (FAVOR+, Choromanski et al. 2021), dim m
#pragma once

#include "isa_namespace.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

// One copy per ISA level (isa_namespace.h), as for the kernels that use it.
namespace attnbench::linear_attn {
inline namespace AB_CPU_ISA {

/// Which feature map.
enum class FeatureKind { elu1, relu, taylor, performer };

/// Parses "elu1" / "relu" / "taylor" / "performer"; false for anything else.
inline bool parse_feature_kind(const std::string& s, FeatureKind* out) {
  if (s == "elu1") *out = FeatureKind::elu1;
  else if (s == "relu") *out = FeatureKind::relu;
  else if (s == "taylor") *out = FeatureKind::taylor;
  else if (s == "performer") *out = FeatureKind::performer;
  else return false;
  return true;
}

/// Feature (state) dimension of a map on n inputs; m = number of performer features.
inline int64_t feature_dim(FeatureKind k, int n, int m) {
  switch (k) {
    case FeatureKind::taylor: return 1 + n + static_cast<int64_t>(n) * n;
    case FeatureKind::performer: return m;
    default: return n;
  }
}

/// Fixed performer projection, m rows of n N(0,1) values (splitmix64 + Box-Muller).
inline std::vector<float> performer_projection(int m, int n, uint64_t seed = 0x9e3779b97f4a7c15ull) {
  std::vector<float> w(static_cast<size_t>(m) * n);
  uint64_t s = seed;
  auto next = [&s] {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  };
  for (float& x : w) {
    const double u1 = next() + 0x1.0p-54, u2 = next();
    x = static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return w;
}

/// Writes phi(x) (feature_dim(k, n, m) values) for the n inputs x. `w` is the performer
/// projection (m x n), unused by the other maps.
template <class T>
void apply_feature_map(FeatureKind k, const T* x, int n, const float* w, int m, T* phi) {
  switch (k) {
    case FeatureKind::elu1:
      for (int i = 0; i < n; ++i) phi[i] = x[i] > T(0) ? x[i] + T(1) : std::exp(x[i]);
      return;
    case FeatureKind::relu:
      for (int i = 0; i < n; ++i) phi[i] = x[i] > T(0) ? x[i] : T(0);
      return;
    case FeatureKind::taylor: {
      const T r4 = static_cast<T>(std::pow(static_cast<double>(n), 0.25));
      const T r2 = static_cast<T>(std::sqrt(2.0 * n));
      phi[0] = T(1);
      for (int i = 0; i < n; ++i) phi[1 + i] = x[i] / r4;
      T* quad = phi + 1 + n;
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) quad[i * n + j] = x[i] * x[j] / r2;
      return;
    }
    case FeatureKind::performer: {
      const T r4 = static_cast<T>(std::pow(static_cast<double>(n), 0.25));
      T sq = 0;
      for (int i = 0; i < n; ++i) sq += (x[i] / r4) * (x[i] / r4);
      const T norm = T(1) / static_cast<T>(std::sqrt(static_cast<double>(m)));
      for (int f = 0; f < m; ++f) {
        T dot = 0;
        for (int i = 0; i < n; ++i) dot += static_cast<T>(w[static_cast<size_t>(f) * n + i]) * (x[i] / r4);
        phi[f] = std::exp(dot - sq / T(2)) * norm;
      }
      return;
    }
  }
}

}  // namespace AB_CPU_ISA
}  // namespace attnbench::linear_attn
