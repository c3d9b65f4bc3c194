#include "mass_probe.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "attnbench/dtype.h"
#include "variant_registry.h"

namespace attnbench {

// One run reads dv keys' weights, one per value channel.
int mass_probe_runs(const Shape& s) { return s.dv() > 0 ? (s.len_k + s.dv() - 1) / s.dv() : 0; }

MassProbeResult probe_attention_mass(Backend& be, const VariantConfig& cfg, const Shape& s, const HostInputs& host,
                                     std::span<const RowId> rows, const KeyMask* reference) {
  MassProbeResult r;
  const int d = s.dv(), lk = s.len_k;
  DeviceInputs dev = upload_inputs(be, cfg, s, host);
  const std::string kernel = cfg.kernel_name();
  // w[row][j]: the weight the kernel gave key j in that row, read from output channel j - c0.
  std::vector<std::vector<double>> w(rows.size(), std::vector<double>(lk, 0.0));
  std::vector<float> onehot(host.v.size()), out(output_elements(s));
  std::vector<uint8_t> raw(dev.o_bytes);
  for (int c0 = 0; c0 < lk; c0 += d) {
    const int c1 = std::min(lk, c0 + d);
    std::fill(onehot.begin(), onehot.end(), 0.0f);
    for (size_t bh = 0; bh < static_cast<size_t>(s.batch) * s.heads_kv; ++bh)
      for (int j = c0; j < c1; ++j) onehot[(bh * lk + j) * d + (j - c0)] = 1.0f;
    upload_values(be, s, host, onehot, dev);
    be.fill(dev.o.get(), 0xFF, dev.o_bytes);  // NaN: an unwritten row must not read as weight 0
    be.run(kernel.c_str(), dev.args);
    be.download(raw.data(), dev.o.get(), dev.o_bytes);
    decode(s.dtype, raw.data(), out.data(), out.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const RowId row = rows[i];
      const float* o = &out[((static_cast<size_t>(row.b) * s.heads_q + row.h) * s.len_q + row.i) * d];
      for (int j = c0; j < c1; ++j) w[i][j] = o[j - c0];
    }
    ++r.runs;
  }
  const ab_attention_args a = dev.args;
  const KeyMask mask = reference ? *reference : key_mask(cfg);
  std::vector<double> p;
  double mass = 0, attended = 0, visible = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RowId row = rows[i];
    const int lq_b = effective_len_q(a, row.b), lk_b = effective_len_k(a, row.b);
    if (!reference_probabilities(a, mask, host.q.data(), host.k.data(), row, p)) continue;  // sees no key
    double kept = 0;
    for (int j = 0; j < lk_b; ++j) {
      // NaN (unwritten) counts as attended with no overlap: it can only lower the mass.
      kept += std::isnan(w[i][j]) ? 0.0 : std::min(w[i][j], p[j]);
      attended += w[i][j] != 0.0;
    }
    mass += kept;
    visible += static_cast<double>(mask.count(row.i, lq_b, lk_b));
    ++r.rows;
  }
  if (r.rows > 0) r.mass_kept = mass / static_cast<double>(r.rows);
  if (visible > 0) r.attended_fraction = attended / visible;
  return r;
}

}  // namespace attnbench
