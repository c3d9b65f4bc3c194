#include "recall_variant_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "mass_probe.h"
#include "recall_executor.h"
#include "reference_attention.h"
#include "case_errors.h"
#include "variant_registry.h"

namespace attnbench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Row (b, h, 0) answers question b through query head h.
std::vector<RowId> all_rows(const Shape& s) {
  std::vector<RowId> rows;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h) rows.push_back({b, h, 0});
  return rows;
}

/// The full-attention reference mask: the variant's own mask without its window. The
/// question follows the whole context, so a window is one of the approximations under
/// test here, not part of the task; errors and mass are measured against every key, as
/// the KV path measures them against the full cache.
KeyMask full_mask(const VariantConfig& cfg) {
  KeyMask m = key_mask(cfg);
  m.mask.window_left = m.mask.window_right = -1;
  return m;
}

struct MassVsFull {
  double mass_kept = 0, attended_fraction = 0;
  int64_t rows = 0;
};

/// Attention mass kept and attended fraction against full attention (every key: the
/// question follows the whole context), from the one-hot mass probe.
MassVsFull mass_vs_full(Backend& be, const VariantConfig& cfg, const RecallAttention& in) {
  const KeyMask full = full_mask(cfg);
  const MassProbeResult m = probe_attention_mass(be, cfg, in.shape, in.host, all_rows(in.shape), &full);
  return {m.mass_kept, m.attended_fraction, m.rows};
}

/// Accuracy (cases with code words only) and relative output error of one layer.
struct Scores {
  double accuracy = 0, error = 0;
  bool has_accuracy = false;
};

/// Scores the downloaded output: accuracy per (question, head) row (when the case has
/// code words) and the relative L2 error against the fp64 full-attention oracle.
Scores score_output(const recall::RecallCase& rc, const VariantConfig& cfg, const RecallAttention& in,
                    const std::vector<float>& o) {
  const Shape& s = in.shape;
  const int d = s.head_dim;
  const std::vector<RowId> rows = all_rows(s);
  std::vector<double> ref(rows.size() * d);
  reference_attention_rows(make_args(cfg, s, in.host), full_mask(cfg), in.host.q.data(), in.host.k.data(),
                           in.host.v.data(), rows, ref.data());
  int correct = 0, judged = 0;
  double err2 = 0, ref2 = 0;
  std::vector<double> row(d);
  const bool scored = !rc.codebook.empty();
  for (size_t r = 0; r < rows.size(); ++r) {
    // Output rows are laid out [B, Hq, 1, d], i.e. in the order of `rows`.
    for (int c = 0; c < d; ++c) {
      row[c] = o[r * d + c];
      const double e = row[c] - ref[r * d + c];
      err2 += e * e;
      ref2 += ref[r * d + c] * ref[r * d + c];
    }
    if (scored && recall::judged(rc, rows[r].h)) {
      correct += recall::decode_correct(rc, rows[r].b, row.data());
      ++judged;
    }
  }
  return {static_cast<double>(correct) / std::max(judged, 1), std::sqrt(err2 / std::max(ref2, 1e-300)), scored};
}

}  // namespace

RecallAttention recall_attention_inputs(const recall::RecallCase& rc) {
  RecallAttention in;
  Shape& s = in.shape;
  s.batch = rc.n_questions;
  s.heads_q = rc.heads_q;
  s.heads_kv = rc.heads_kv;
  s.len_q = 1;
  s.len_k = rc.len_k;
  s.head_dim = rc.head_dim;
  s.dtype = AB_F32;
  const size_t d = rc.head_dim, kv = static_cast<size_t>(rc.heads_kv) * rc.len_k * d;
  in.host.q.resize(static_cast<size_t>(s.batch) * s.heads_q * d);
  for (int b = 0; b < s.batch; ++b)  // q_question is [Hq, n_questions, d]
    for (int h = 0; h < s.heads_q; ++h)
      std::memcpy(&in.host.q[(static_cast<size_t>(b) * s.heads_q + h) * d],
                  &rc.q_question[(static_cast<size_t>(h) * rc.n_questions + b) * d], d * sizeof(float));
  in.host.k.resize(kv * s.batch);
  in.host.v.resize(kv * s.batch);
  for (int b = 0; b < s.batch; ++b) {
    std::copy(rc.k.begin(), rc.k.end(), in.host.k.begin() + b * kv);
    std::copy(rc.v.begin(), rc.v.end(), in.host.v.begin() + b * kv);
  }
  return in;
}

store::CaseRecord execute_recall_variant_case(const CaseSpec& spec, BackendSlot& slot, uint64_t seed) {
  const RecallCaseSpec& r = *spec.recall;
  store::CaseRecord rec = describe_case(spec, slot.device ? slot.device->info().name : "none");
  if (!slot.device) {
    rec.status = "no_device";
    rec.message = slot.no_device_reason;
    return rec;
  }
  const auto t0 = Clock::now();
  record_case_errors(rec, "generating or running the recall case", [&] {
    Backend& be = *slot.device;
    const VariantConfig cfg = parse_variant_config(r.variant);  // canonical, so it parses back
    const std::string kernel = cfg.kernel_name();
    // Generated cases answer on their judged layer; a trace runs every layer and reports
    // the mean over layers (timing: the last layer's call).
    const int first = r.is_trace() ? 0 : r.judged_layer(), last = r.is_trace() ? r.layers - 1 : first;
    double acc = 0, err = 0, mass = 0, attended = 0;
    int64_t nonfinite = 0, mass_layers = 0;
    bool has_accuracy = false;
    for (int layer = first; layer <= last && rec.status == "ok"; ++layer) {
      const recall::RecallCase& rc = recall_task_data(r, seed, layer);
      const RecallAttention in = recall_attention_inputs(rc);
      if (layer == first) {
        rec.batch = in.shape.batch;
        if (r.has_depth && !r.is_trace()) rec.metrics.push_back({"needle_depth", r.task.depth, "ratio"});
        rec.metrics.push_back({"questions", static_cast<double>(rc.n_questions), "count"});
      }
      const std::string reason = be.unsupported_reason(kernel.c_str(), make_args(cfg, in.shape, in.host));
      if (!reason.empty()) {
        rec.status = "unsupported";
        rec.message = reason;
        break;
      }
      DeviceInputs dev = upload_inputs(be, cfg, in.shape, in.host);
      be.fill(dev.o.get(), 0xFF, dev.o_bytes);  // NaN in fp32: an unwritten element cannot pass
      be.run(kernel.c_str(), dev.args);
      std::vector<float> o(in.host.q.size());
      be.download(o.data(), dev.o.get(), o.size() * sizeof(float));
      int64_t bad = 0;
      for (float x : o) bad += !std::isfinite(x);
      nonfinite += bad;
      if (bad > 0) {
        rec.status = "failed";
        rec.message = fmt::format("{} output elements are NaN/Inf (unwritten or overflowed){}", bad,
                                  r.is_trace() ? fmt::format(" on layer {}", layer) : "");
        break;
      }
      const Scores sc = score_output(rc, cfg, in, o);
      acc += sc.accuracy, err += sc.error, has_accuracy = sc.has_accuracy;
      const MassVsFull m = mass_vs_full(be, cfg, in);
      if (m.rows > 0) mass += m.mass_kept, attended += m.attended_fraction, ++mass_layers;
      if (layer == last) {
        const double n = last - first + 1;
        if (has_accuracy) rec.metrics.push_back({"recall_accuracy", acc / n, "ratio"});
        rec.metrics.push_back({"output_error_vs_full", err / n, "ratio"});
        if (mass_layers > 0) {
          rec.metrics.push_back({"attention_mass_kept", mass / mass_layers, "ratio"});
          rec.metrics.push_back({"attended_fraction", attended / mass_layers, "ratio"});
        }
        const VariantInfo* info = find_variant(cfg.variant);
        if (!info || info->timed) record_kernel_timing(spec, slot, kernel, dev.args, rec);
      }
    }
    rec.metrics.push_back({"nonfinite_outputs", static_cast<double>(nonfinite), "count"});
    if (r.is_trace()) rec.metrics.push_back({"trace_layers", static_cast<double>(r.layers), "count"});
  });
  rec.metrics.push_back({"case_wall_time", seconds_since(t0), "s"});
  return rec;
}

}  // namespace attnbench
