#include "output_check.h"

#include <cmath>

#include "attnbench/dtype.h"
#include "case_inputs.h"
#include "counter_rng.h"
#include "reference_attention.h"
#include "variant_oracle.h"

namespace attnbench {
namespace {

std::vector<RowId> valid_rows(const Shape& s, const ab_attention_args& a) {
  std::vector<RowId> rows;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < effective_len_q(a, b); ++i) rows.push_back({b, h, i});
  return rows;
}

std::vector<RowId> sample_rows(std::vector<RowId> all, uint64_t seed, int max_rows) {
  if (static_cast<int>(all.size()) <= max_rows) return all;
  // Always include the first and last rows (mask edges), the rest drawn without bias.
  std::vector<RowId> picked{all.front(), all.back()};
  const gen::StreamKey key{seed, all.size(), 99};
  for (int i = 2; i < max_rows; ++i) picked.push_back(all[key.bits(i) % all.size()]);
  return picked;
}

}  // namespace

std::vector<RowId> checked_rows(const Shape& s, const ab_attention_args& a, CheckMode mode, uint64_t seed,
                                int max_rows) {
  std::vector<RowId> rows = valid_rows(s, a);
  return mode == CheckMode::kSampled ? sample_rows(std::move(rows), seed, max_rows) : rows;
}

CheckResult check_output(const VariantConfig& cfg, const Shape& s, const HostInputs& host,
                         const std::vector<uint8_t>& output, CheckMode mode, uint64_t seed, int max_rows) {
  CheckResult r;
  const ab_attention_args a = make_args(cfg, s, host);
  std::vector<float> o(output_elements(s));
  decode(s.dtype, output.data(), o.data(), o.size());

  std::vector<RowId> rows = valid_rows(s, a);
  // Every valid element must have been written, whatever the check mode.
  const size_t d = s.dv();
  for (const RowId& row : rows) {
    const float* out = &o[((static_cast<size_t>(row.b) * s.heads_q + row.h) * s.len_q + row.i) * d];
    for (size_t c = 0; c < d; ++c) r.nonfinite += !std::isfinite(out[c]);
  }
  if (mode == CheckMode::kNone) return r;
  if (mode == CheckMode::kSampled) rows = sample_rows(std::move(rows), seed, max_rows);

  std::vector<double> ref(rows.size() * d);
  variant_reference_rows(cfg, a, host.q.data(), host.k.data(), host.v.data(), rows, ref.data());
  double err2 = 0, ref2 = 0;
  for (size_t r_i = 0; r_i < rows.size(); ++r_i) {
    const RowId row = rows[r_i];
    const float* out = &o[((static_cast<size_t>(row.b) * s.heads_q + row.h) * s.len_q + row.i) * d];
    for (size_t c = 0; c < d; ++c) {
      const double diff = static_cast<double>(out[c]) - ref[r_i * d + c];
      if (!std::isfinite(diff)) continue;
      err2 += diff * diff;
      ref2 += ref[r_i * d + c] * ref[r_i * d + c];
      r.max_abs_error = std::max(r.max_abs_error, std::abs(diff));
    }
  }
  r.rows_checked = static_cast<int64_t>(rows.size());
  r.rel_error = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  return r;
}

}  // namespace attnbench
