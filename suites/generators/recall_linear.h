// Minimal MQAR probe for linear attention (Zoology, Arora et al. 2023; BASED, Arora et
// al. 2024): N key-value pairs are written into a recurrent state S = sum phi(k) v^T,
// z = sum phi(k); a query reads O = phi(q) S / phi(q) z and is decoded to the nearest
// value code word. Softmax attention over the same pairs is the reference. Untrained
// feature maps: this measures the state's capacity, not a trained model.
#pragma once

#include <cstdint>
#include <string>

namespace attnbench::recall {

enum class FeatureMap {
  softmax,  ///< exact softmax attention (reference; not a finite state)
  taylor2,  ///< BASED: phi(x) = [1, x / d^(1/4), vec(x x^T) / (sqrt(2) sqrt(d))], dim 1 + d + d^2
  elu1      ///< elu(x) + 1 (Katharopoulos et al. 2020), dim d
};

/// One MQAR probe configuration.
struct MqarProbe {
  int32_t n_pairs = 32;
  int32_t key_dim = 16;     ///< d of the feature map input (BASED uses 16)
  int32_t value_dim = 64;
  int32_t n_queries = 64;   ///< asked pairs (with replacement)
  double key_norm = 3.0;    ///< ||k|| = ||q||: sets the logit scale q.k = key_norm^2 on a match
  uint64_t seed = 1;
};

/// Feature (state) dimension of a map for key_dim d (softmax: 0 = unbounded).
int64_t feature_dim(FeatureMap f, int32_t key_dim);

/// Name of a feature map.
std::string feature_map_name(FeatureMap f);

/// Fraction of queries whose output decodes to the right value code word.
double mqar_accuracy(const MqarProbe& p, FeatureMap f);

}  // namespace attnbench::recall
