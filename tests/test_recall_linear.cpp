// MQAR with CPU linear attention (Zoology / BASED): softmax stays accurate as pairs grow;
// the BASED 2nd-order Taylor map is accurate well below its feature dimension and
// degrades as pairs approach and pass it; untrained elu+1 is near chance, the known
// weakness of plain linear attention on recall.
#include <catch2/catch.hpp>

#include <cstdio>

#include "recall_linear.h"

using namespace attnbench::recall;

TEST_CASE("MQAR: softmax vs BASED Taylor vs elu+1 linear attention", "[recall][linear]") {
  const int D = static_cast<int>(feature_dim(FeatureMap::taylor2, 16));  // 273
  auto acc = [](int n, FeatureMap f) {
    double a = 0;
    for (uint64_t s : {1, 2, 3}) {
      MqarProbe p;
      p.n_pairs = n, p.seed = s, p.key_norm = std::sqrt(4.0 * 9.0);  // match logit q.k/sqrt(d) = 9
      a += mqar_accuracy(p, f);
    }
    return a / 3;
  };
  for (int n : {D / 16, D / 8, D / 2, D, 2 * D, 4 * D})
    std::printf("MQAR pairs=%4d (D=%d): softmax %.2f taylor2 %.2f elu1 %.2f\n", n, D, acc(n, FeatureMap::softmax),
                acc(n, FeatureMap::taylor2), acc(n, FeatureMap::elu1));
  CHECK(acc(D / 16, FeatureMap::taylor2) >= 0.9);
  CHECK(acc(2 * D, FeatureMap::taylor2) <= 0.6);
  CHECK(acc(2 * D, FeatureMap::taylor2) < acc(D / 16, FeatureMap::taylor2) - 0.3);
  CHECK(acc(2 * D, FeatureMap::softmax) >= 0.95);
  CHECK(acc(D / 8, FeatureMap::elu1) <= 0.25);  // near chance (1/34) relative to softmax
}
