#include "backward_executor.h"

#include <fmt/format.h>

#include <chrono>

#include "attnbench/dtype.h"
#include "backward_check.h"
#include "backward_inputs.h"
#include "case_memory.h"
#include "host_memory.h"
#include "case_errors.h"
#include "variant_registry.h"

namespace attnbench {
namespace {

/// Why the harness itself does not run `spec` backward (empty when it does).
std::string harness_refusal(const CaseSpec& spec) {
  if (spec.shape.varlen || spec.shape.page_size > 0)
    return "backward cases take contiguous, fixed-length inputs (no varlen, no paged KV)";
  if (spec.config.softcap > 0) return "the backward oracle does not model softcap";
  if (spec.shape.head_dim_v != 0 && spec.shape.head_dim_v != spec.shape.head_dim)
    return "the backward oracle needs head_dim_v == head_dim";
  if (!spec.config.params.empty())  // bias_rank, diff's lambda, mla's latent ...: other maths than plain attention
    return fmt::format("the backward oracle models plain attention under its mask only, not '{}'",
                       spec.config.kernel_name());
  return {};
}

/// The checked call: poisoned gradients, one run, comparison with the oracle. False
/// when the case failed (status and message set).
bool check_backward(const CaseSpec& spec, Backend& be, DeviceBackwardInputs& dev, const HostInputs& host,
                    const BackwardHostInputs& bwd, uint64_t seed, store::CaseRecord& rec) {
  poison_gradients(be, dev);
  const HostPeakMemory memory;  // what the call allocates (naive's P and dS, flash's dQ partials)
  be.run_backward(spec.config.kernel_name().c_str(), dev.args);
  if (const auto extra = memory.extra_bytes()) rec.metrics.push_back({"host_memory_peak_extra", *extra, "B"});
  std::vector<uint8_t> dq(dev.q_bytes), dk(dev.kv_bytes), dv(dev.kv_bytes);
  if (dev.q_bytes) be.download(dq.data(), dev.d_q.get(), dev.q_bytes);
  if (dev.kv_bytes) be.download(dk.data(), dev.d_k.get(), dev.kv_bytes);
  if (dev.kv_bytes) be.download(dv.data(), dev.d_v.get(), dev.kv_bytes);
  const ab_attention_args args = make_args(spec.config, spec.shape, host);
  const GradientCheck c = check_gradients(spec.shape, args, host, bwd, dq, dk, dv, spec.check, seed);
  rec.metrics.push_back({"nonfinite_outputs", static_cast<double>(c.nonfinite), "count"});
  if (spec.check != CheckMode::kNone) {
    rec.metrics.push_back({"rel_error", c.worst(), "ratio"});
    rec.metrics.push_back({"rel_error_dq", c.rel_dq, "ratio"});
    rec.metrics.push_back({"rel_error_dk", c.rel_dk, "ratio"});
    rec.metrics.push_back({"rel_error_dv", c.rel_dv, "ratio"});
    rec.metrics.push_back({"max_abs_error", c.max_abs_error, ""});
    rec.metrics.push_back({"rows_checked", static_cast<double>(c.rows_checked), "count"});
    rec.metrics.push_back({"keys_checked", static_cast<double>(c.keys_checked), "count"});
  }
  if (c.nonfinite > 0) {
    rec.status = "failed";
    rec.message = fmt::format("{} gradient elements are NaN/Inf (unwritten or overflowed)", c.nonfinite);
    return false;
  }
  const VariantInfo* info = find_variant(spec.config.variant);
  const double threshold = error_threshold(spec.shape.dtype);
  if (info && info->exact && spec.check != CheckMode::kNone && !(c.worst() <= threshold)) {
    rec.status = "failed";
    rec.message = fmt::format("gradient relative error {:.3g} (dQ {:.3g}, dK {:.3g}, dV {:.3g}) exceeds the {} threshold {:.0e}",
                              c.worst(), c.rel_dq, c.rel_dk, c.rel_dv, dtype_name(spec.shape.dtype), threshold);
    return false;
  }
  return true;
}

}  // namespace

store::CaseRecord execute_backward_case(const CaseSpec& spec, BackendSlot& slot, InputCache& cache, uint64_t seed) {
  store::CaseRecord rec = describe_case(spec, slot.device ? slot.device->info().name : "none");
  if (!slot.device) {
    rec.status = "no_device";
    rec.message = slot.no_device_reason;
    return rec;
  }
  const auto t0 = std::chrono::steady_clock::now();
  record_case_errors(rec, "preparing inputs", [&] {
    rec.flops = backward_model_flops(spec.config, spec.shape);
    rec.bytes = backward_model_bytes(spec.shape);
    std::string reason = harness_refusal(spec);
    if (reason.empty()) reason = slot.device->backward_unsupported_reason();
    if (!reason.empty()) {
      rec.status = "unsupported";
      rec.message = reason;
      return;
    }
    // Forward-sized buffers twice over (inputs and gradients) plus O and dO.
    if (const std::string why = memory_shortfall(spec.shape, slot.device->info()); !why.empty()) {
      rec.status = "oom";
      rec.message = "not run: the case " + why;
      return;
    }
    const HostInputs& host = cache.get(spec.shape, seed);
    const ab_attention_args args = make_args(spec.config, spec.shape, host);
    const BackwardHostInputs bwd = make_backward_inputs(spec.shape, seed, host, args);
    DeviceBackwardInputs dev = upload_backward_inputs(*slot.device, spec.config, spec.shape, host, bwd);
    if (!check_backward(spec, *slot.device, dev, host, bwd, seed, rec)) return;
    const VariantInfo* info = find_variant(spec.config.variant);
    if (!info || info->timed) {
      Backend& be = *slot.device;
      const std::string kernel = spec.config.kernel_name();
      const double median =
          record_call_timing(spec, slot, [&] { return be.run_backward(kernel.c_str(), dev.args); }, rec);
      add_throughput_metrics(rec, median, slot.peaks, spec.shape.dtype);
    }
  });
  rec.metrics.push_back({"case_wall_time",
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "s"});
  return rec;
}

}  // namespace attnbench
