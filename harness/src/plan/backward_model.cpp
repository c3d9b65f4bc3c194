#include "backward_model.h"

#include "attnbench/dtype.h"
#include "variant_registry.h"

namespace attnbench {

double backward_model_flops(const VariantConfig& cfg, const Shape& s) {
  return 2.5 * model_flops(cfg, s, nullptr, nullptr);
}

double backward_model_bytes(const Shape& s) {
  const double elem = static_cast<double>(dtype_size(s.dtype)) * s.head_dim;
  const double rows_q = static_cast<double>(s.batch) * s.heads_q * s.len_q;
  const double rows_k = static_cast<double>(s.batch) * s.heads_kv * s.len_k;
  return elem * (4.0 * rows_q + 4.0 * rows_k);  // Q, O, dO, dQ; K, V, dK, dV
}

}  // namespace attnbench
