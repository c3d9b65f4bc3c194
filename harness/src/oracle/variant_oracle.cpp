#include "variant_oracle.h"

#include <cstdlib>
#include <vector>

#include "variant_registry.h"

namespace attnbench {
namespace {

/// Columns [c0, c0 + width) of every row of a [rows, d] tensor, as a [rows, width] copy.
std::vector<float> columns(const float* x, size_t rows, int d, int c0, int width) {
  std::vector<float> out(rows * width);
  for (size_t r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c) out[r * width + c] = x[r * d + c0 + c];
  return out;
}

/// diff: softmax(s Q1 K1^T) V - lambda softmax(s Q2 K2^T) V, as two reference passes over
/// the halves of the head dim.
void diff_rows(const VariantConfig& cfg, const ab_attention_args& a, const float* q, const float* k, const float* v,
               std::span<const RowId> rows, double* out) {
  const int d = a.head_dim, h2 = d / 2, dv = value_dim(a);
  const size_t q_rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  const size_t k_rows = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k;
  ab_attention_args half = a;
  half.head_dim = h2;
  half.head_dim_v = dv;
  const KeyMask mask = key_mask(cfg);
  std::vector<double> second(rows.size() * dv);
  reference_attention_rows(half, mask, columns(q, q_rows, d, 0, h2).data(), columns(k, k_rows, d, 0, h2).data(), v,
                           rows, out);
  reference_attention_rows(half, mask, columns(q, q_rows, d, h2, h2).data(), columns(k, k_rows, d, h2, h2).data(),
                           v, rows, second.data());
  const double lambda = diff_lambda(cfg);
  for (size_t e = 0; e < second.size(); ++e) out[e] -= lambda * second[e];
}

/// flash:bias_rank=R: logits s * q[:d].k[:d] + u.w with u, w the last R columns of Q and K.
/// Plain attention over Q' = [s q[:d], u] and K at scale 1 is exactly that (Q' in fp32: the
/// kernel scales the same way, and s q rounds far below the check's threshold).
void bias_rows(const VariantConfig& cfg, const ab_attention_args& a, const float* q, const float* k, const float* v,
               std::span<const RowId> rows, double* out) {
  const int width = a.head_dim, d = value_dim(a);
  std::vector<float> qs(q, q + static_cast<size_t>(a.batch) * a.heads_q * a.len_q * width);
  for (size_t r = 0; r < qs.size() / width; ++r)
    for (int c = 0; c < d; ++c) qs[r * width + c] *= a.scale;
  ab_attention_args scaled = a;
  scaled.scale = 1.0f;
  reference_attention_rows(scaled, key_mask(cfg), qs.data(), k, v, rows, out);
}

}  // namespace

int bias_rank(const VariantConfig& cfg) {
  if (cfg.variant != "flash") return 0;
  const auto it = cfg.params.find("bias_rank");
  return it == cfg.params.end() ? 0 : std::atoi(it->second.c_str());
}

double diff_lambda(const VariantConfig& cfg) {
  const auto it = cfg.params.find("lambda");
  return it == cfg.params.end() ? 0.8 : std::strtod(it->second.c_str(), nullptr);
}

void variant_reference_rows(const VariantConfig& cfg, const ab_attention_args& a, const float* q, const float* k,
                            const float* v, std::span<const RowId> rows, double* out) {
  if (cfg.variant == "diff") return diff_rows(cfg, a, q, k, v, rows, out);
  if (bias_rank(cfg) > 0) return bias_rows(cfg, a, q, k, v, rows, out);
  reference_attention_rows(a, key_mask(cfg), q, k, v, rows, out);
}

}  // namespace attnbench
