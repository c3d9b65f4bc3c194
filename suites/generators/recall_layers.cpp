#include "recall_layers.h"

#include <stdexcept>
#include <string>

namespace attnbench::recall {
namespace {

double relative_depth(int32_t layer, int32_t layers) {
  if (layers < 1 || layer < 0 || layer >= layers)
    throw std::invalid_argument("recall: layer " + std::to_string(layer) + " outside 0.." + std::to_string(layers - 1));
  return layers == 1 ? 1.0 : static_cast<double>(layer) / (layers - 1);
}

}  // namespace

bool is_retrieval_layer(int32_t layer, int32_t layers, const LayerProfile& p) {
  return relative_depth(layer, layers) >= p.retrieval_from;
}

RecallKnobs layer_knobs(const RecallKnobs& base, int32_t layer, int32_t layers, const LayerProfile& p) {
  const double f = relative_depth(layer, layers);
  RecallKnobs k = base;
  k.layer = layer;
  if (layers == 1) return k;
  const double s = p.concentration_bottom + (p.concentration_top - p.concentration_bottom) * f;
  k.local_logit = base.local_logit * s;
  k.sink_logit = base.sink_logit * s;
  k.context_noise_logit_std = base.context_noise_logit_std * s;
  if (!is_retrieval_layer(layer, layers, p)) {
    k.needle_margin = p.non_retrieval_margin;
    k.context_attends_needle = false;
  }
  return k;
}

}  // namespace attnbench::recall
