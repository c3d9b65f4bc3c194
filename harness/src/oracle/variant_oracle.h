// The fp64 oracle of a configuration: plain attention under the variant's key mask
// (key_mask), or the variant's own formula where its output is not plain attention over
// the case's tensors (`diff`: two half-width softmax maps; flash:bias_rank=R: an unscaled
// low-rank bias from the last R columns of Q and K). Output checks call this.
#pragma once

#include <span>

#include "reference_attention.h"
#include "variant_config.h"

namespace attnbench {

/// lambda of a `diff` configuration: option lambda, 0.8 by default (the Differential
/// Transformer's lambda_init of deep layers; a learned scalar in the model).
double diff_lambda(const VariantConfig& cfg);

/// R of a flash:bias_rank=R configuration (FlashBias: the last R columns of Q and K hold
/// the bias factors U and W); 0 for any other configuration.
int bias_rank(const VariantConfig& cfg);

/// Exact output rows of `cfg` in fp64, laid out as reference_attention_rows' (rows.size()
/// * dv values). q, k, v are the contiguous fp32 tensors of the case.
void variant_reference_rows(const VariantConfig& cfg, const ab_attention_args& a, const float* q, const float* k,
                            const float* v, std::span<const RowId> rows, double* out);

}  // namespace attnbench
