#include "case_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>

#include "attnbench/dtype.h"
#include "backward_executor.h"
#include "case_memory.h"
#include "cold_flush.h"
#include "dtype_peak.h"
#include "gbench_timer.h"
#include "host_memory.h"
#include "input_file.h"
#include "mass_probe.h"
#include "output_check.h"
#include "recall_executor.h"
#include "recall_variant_executor.h"
#include "statistics.h"
#include "case_errors.h"
#include "variant_registry.h"

namespace attnbench {

const HostInputs& InputCache::get(const Shape& shape, uint64_t seed) {
  const std::string key = fmt::format("{}#{}", shape.canonical(), seed);
  if (key != key_) {
    key_.clear();  // a throw below leaves the cache empty, not stale
    const std::string file = shared_dir_.empty() ? "" : shared_dir_ + "/" + input_file_name(key);
    if (auto saved = file.empty() ? std::nullopt : load_inputs(file, key)) {
      inputs_ = std::move(*saved);
    } else {
      inputs_ = make_inputs(shape, seed);
      if (!file.empty()) save_inputs(file, key, inputs_);  // best effort: the next worker regenerates
    }
    key_ = key;
  }
  return inputs_;
}

namespace {

double flops_peak(const ab_peaks& p, ab_dtype t) {
  return dtype_peak_flops(p, t);
}

/// Runs once on a poisoned output and compares with the oracle; false if the case failed.
/// `seconds` receives the kernel time of that run.
bool check_correctness(const CaseSpec& spec, Backend& be, DeviceInputs& dev, const HostInputs& host, uint64_t seed,
                       store::CaseRecord& rec, double& seconds) {
  be.fill(dev.o.get(), 0xFF, dev.o_bytes);  // all-ones bytes are NaN in fp32, bf16 and fp16
  const HostPeakMemory memory;
  seconds = be.run(spec.config.kernel_name().c_str(), dev.args);
  if (const auto extra = memory.extra_bytes()) rec.metrics.push_back({"host_memory_peak_extra", *extra, "B"});
  std::vector<uint8_t> out(dev.o_bytes);
  if (dev.o_bytes) be.download(out.data(), dev.o.get(), dev.o_bytes);
  const CheckResult c = check_output(spec.config, spec.shape, host, out, spec.check, seed);
  rec.metrics.push_back({"nonfinite_outputs", static_cast<double>(c.nonfinite), "count"});
  if (spec.check != CheckMode::kNone) {
    rec.metrics.push_back({"rel_error", c.rel_error, "ratio"});
    rec.metrics.push_back({"max_abs_error", c.max_abs_error, ""});
    rec.metrics.push_back({"rows_checked", static_cast<double>(c.rows_checked), "count"});
  }
  const VariantInfo* info = find_variant(spec.config.variant);
  if (c.nonfinite > 0) {
    rec.status = "failed";
    rec.message = fmt::format("{} output elements are NaN/Inf (unwritten or overflowed)", c.nonfinite);
    return false;
  }
  const double threshold = error_threshold(spec.shape.dtype);
  if (info && info->exact && spec.check != CheckMode::kNone && !(c.rel_error <= threshold)) {
    rec.status = "failed";
    rec.message = fmt::format("relative error {:.3g} exceeds the {} threshold {:.0e}", c.rel_error,
                              dtype_name(spec.shape.dtype), threshold);
    return false;
  }
  return true;
}

/// Device time one case may spend probing attention mass (one-hot runs); beyond it
/// the probe is skipped and the message says so.
constexpr double kMassProbeBudgetSeconds = 3.0;

/// For approximate variants: attention mass kept over the checked rows (see
/// mass_probe.h), recorded; returns the attended fraction the probe measured on them.
/// Nothing when the one-hot runs would exceed the budget (the message says so).
std::optional<double> record_attention_mass(const CaseSpec& spec, Backend& be, const HostInputs& host, uint64_t seed,
                                            double kernel_seconds, store::CaseRecord& rec) {
  const int runs = mass_probe_runs(spec.shape);
  if (runs * kernel_seconds > kMassProbeBudgetSeconds) {
    rec.message = fmt::format("attention mass not probed: {} one-hot runs would take about {:.1f} s", runs,
                              runs * kernel_seconds);
    return std::nullopt;
  }
  const ab_attention_args a = make_args(spec.config, spec.shape, host);
  const CheckMode mode = spec.check == CheckMode::kFull ? CheckMode::kFull : CheckMode::kSampled;
  const std::vector<RowId> rows = checked_rows(spec.shape, a, mode, seed, 64);
  const MassProbeResult m = probe_attention_mass(be, spec.config, spec.shape, host, rows);
  if (m.rows == 0) return std::nullopt;
  rec.metrics.push_back({"attention_mass_kept", m.mass_kept, "ratio"});
  return m.attended_fraction;
}

/// The work an approximate variant really did: attended_fraction (attended / visible
/// query-key pairs), the speedup it predicts and the attended FLOPs. From the pairs the
/// kernel counted over the whole call where the backend counts them (`counted`, with
/// attended_pairs), else from the probe's checked rows (`probed`). With both, the
/// probe's is kept as attended_fraction_probe: the two agree for exact-selection kernels.
void record_attended_work(const CaseSpec& spec, const ab_attention_args& args, std::optional<uint64_t> counted,
                          std::optional<double> probed, store::CaseRecord& rec) {
  std::optional<double> fraction = probed;
  if (counted) {
    rec.metrics.push_back({"attended_pairs", static_cast<double>(*counted), "count"});
    const double visible = visible_pairs(spec.config, spec.shape, args.seq_len_q, args.seq_len_k);
    if (visible > 0) {
      if (probed) rec.metrics.push_back({"attended_fraction_probe", *probed, "ratio"});
      fraction = static_cast<double>(*counted) / visible;
    }
  }
  if (!fraction) return;
  rec.metrics.push_back({"attended_fraction", *fraction, "ratio"});
  if (*fraction > 0) rec.metrics.push_back({"predicted_speedup", 1.0 / *fraction, "ratio"});
  if (rec.flops) rec.metrics.push_back({"attended_flops", *rec.flops * *fraction, "FLOP"});
}

void time_and_summarize(const CaseSpec& spec, BackendSlot& slot, DeviceInputs& dev, store::CaseRecord& rec) {
  const double median = record_kernel_timing(spec, slot, spec.config.kernel_name(), dev.args, rec);
  add_throughput_metrics(rec, median, slot.peaks, spec.shape.dtype);
}

store::CaseRecord execute_attention_case(const CaseSpec& spec, BackendSlot& slot, InputCache& cache, uint64_t seed) {
  store::CaseRecord rec = describe_case(spec, slot.device ? slot.device->info().name : "none");
  if (!slot.device) {
    rec.status = "no_device";
    rec.message = slot.no_device_reason;
    return rec;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (const std::string why = memory_shortfall(spec.shape, slot.device->info()); !why.empty()) {
    rec.status = "oom";
    rec.message = "not run: the case " + why;
    return rec;
  }
  record_case_errors(rec, "preparing inputs", [&] {
    const HostInputs& shared = cache.get(spec.shape, seed);
    std::optional<HostInputs> own;  // mla: V = K[..., :dv]; alibi: ALiBi factors (case_inputs.h)
    if (needs_own_inputs(spec.config)) own = own_inputs(spec.config, spec.shape, shared);
    const HostInputs& host = own ? *own : shared;
    const ab_attention_args probe = make_args(spec.config, spec.shape, host);
    rec.flops = model_flops(spec.config, spec.shape, probe.seq_len_q, probe.seq_len_k);
    rec.bytes = model_bytes(spec.config, spec.shape, probe.seq_len_q, probe.seq_len_k);
    const std::string reason = slot.device->unsupported_reason(spec.config.kernel_name().c_str(), probe);
    if (!reason.empty()) {
      rec.status = "unsupported";
      rec.message = reason;
      return;
    }
    DeviceInputs dev = upload_inputs(*slot.device, spec.config, spec.shape, host);
    double check_seconds = 0;
    if (!check_correctness(spec, *slot.device, dev, host, seed, rec, check_seconds)) return;
    const VariantInfo* info = find_variant(spec.config.variant);
    if (info && !info->exact) {
      // Read before the probe's one-hot runs: the count is of the checked call.
      const std::optional<uint64_t> counted = slot.device->attended_pairs();
      std::optional<double> probed;
      if (spec.check != CheckMode::kNone)
        probed = record_attention_mass(spec, *slot.device, host, seed, check_seconds, rec);
      record_attended_work(spec, dev.args, counted, probed, rec);
    }
    if (spec.phase != "correctness" && (!info || info->timed)) time_and_summarize(spec, slot, dev, rec);
  });
  rec.metrics.push_back({"case_wall_time",
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "s"});
  return rec;
}

}  // namespace

store::CaseRecord describe_case(const CaseSpec& spec, const std::string& device) {
  store::CaseRecord r;
  r.case_key = spec.key();
  r.suite = spec.suite;
  r.suite_file_hash = spec.suite_file_hash;
  r.backend = spec.backend;
  r.device = device;
  r.group = spec.group;
  r.target = spec.target;
  if (spec.recall) {
    const RecallCaseSpec& rc = *spec.recall;
    r.phase = "recall";
    // KV methods decode; variant cases run the variant itself. Both compute in fp32.
    r.variant = rc.is_variant() ? rc.variant_name() : "decode";
    r.config = rc.config();
    r.dtype = "fp32";
    r.shape = rc.shape();
    r.batch = 1;
    r.heads_q = rc.knobs.heads_q;
    r.heads_kv = rc.knobs.heads_kv;
    r.len_q = 1;  // decode: one query position per question
    r.len_k = rc.task.len_k;
    r.head_dim = rc.knobs.head_dim;
    return r;
  }
  r.phase = spec.phase;
  r.variant = spec.config.variant;
  r.config = spec.config.canonical();
  r.dtype = dtype_name(spec.shape.dtype);
  r.shape = spec.shape.canonical();
  r.batch = spec.shape.batch;
  r.heads_q = spec.shape.heads_q;
  r.heads_kv = spec.shape.heads_kv;
  r.len_q = spec.shape.len_q;
  r.len_k = spec.shape.len_k;
  r.head_dim = spec.shape.head_dim;
  r.page_size = spec.shape.page_size;
  return r;
}

double record_kernel_timing(const CaseSpec& spec, BackendSlot& slot, const std::string& kernel,
                            const ab_attention_args& args, store::CaseRecord& rec) {
  Backend& be = *slot.device;
  return record_call_timing(spec, slot, [&] { return be.run(kernel.c_str(), args); }, rec);
}

double record_call_timing(const CaseSpec& spec, BackendSlot& slot, const std::function<double()>& call,
                          store::CaseRecord& rec) {
  Backend& be = *slot.device;
  const uint64_t flush = cold_flush_bytes(spec, slot.peaks);
  if (spec.cold && flush == 0) {
    rec.status = "error";
    rec.message = "--cold: the cache size is unknown (the backend declares none and sysfs does not say); give --cold-bytes";
    return 0;
  }
  std::function<void()> prepare;
  int64_t iterations = 0;  // Google Benchmark's choice
  if (flush) {
    prepare = [&] { be.flush_caches(flush); };
    // One cold call tells how many reach min_time; at most kMaxColdCallsPerRepetition.
    // A flush buffer that does not fit throws BackendError (oom), which the executors
    // store like any other backend error.
    prepare();
    const double first = call();
    iterations = first > 0 ? static_cast<int64_t>(std::ceil(spec.min_time / first)) : 1;
    iterations = std::clamp<int64_t>(iterations, 1, kMaxColdCallsPerRepetition);
  }
  const TimingResult t = time_case(rec.case_key, spec.repetitions, spec.min_time, call, prepare, iterations);
  if (flush) rec.metrics.push_back({"cold_flush_bytes", static_cast<double>(flush), "B"});
  if (!t.error.empty()) {
    rec.status = "error";
    rec.message = t.error;
    return 0;
  }
  for (const auto& s : t.samples) rec.samples.push_back({s.repetition, s.iterations, s.seconds});
  const double median = add_time_metrics(rec);
  rec.metrics.push_back({"harness_overhead_per_call", t.overhead_per_call(), "s"});
  return median;
}

double add_time_metrics(store::CaseRecord& rec) {
  std::vector<double> secs;
  for (const auto& s : rec.samples) secs.push_back(s.seconds);
  const Summary sum = summarize(secs);
  rec.metrics.push_back({"time_median", sum.median, "s"});
  rec.metrics.push_back({"time_min", sum.min, "s"});
  rec.metrics.push_back({"time_mad", sum.mad, "s"});
  return sum.median;
}

void add_throughput_metrics(store::CaseRecord& rec, double median, const ab_peaks& peaks, ab_dtype dtype) {
  if (!(median > 0) || !rec.flops || !rec.bytes) return;
  const double fps = *rec.flops / median, bps = *rec.bytes / median;
  rec.metrics.push_back({"flops_per_second", fps, "FLOP/s"});
  rec.metrics.push_back({"bytes_per_second", bps, "B/s"});
  const double fpeak = flops_peak(peaks, dtype);
  if (fpeak > 0) rec.metrics.push_back({"fraction_peak_flops", fps / fpeak, "ratio"});
  if (peaks.bytes_per_second > 0) rec.metrics.push_back({"fraction_peak_bandwidth", bps / peaks.bytes_per_second, "ratio"});
}

store::CaseRecord execute_case(const CaseSpec& spec, BackendSlot& slot, InputCache& cache, uint64_t seed) {
  // Every case runs on the slot's backend: attention cases and recall variant cases
  // through its kernels, KV recall cases through its KV primitives.
  return spec.recall && spec.recall->is_variant() ? execute_recall_variant_case(spec, slot, seed)
         : spec.recall                            ? execute_recall_case(spec, slot, seed)
         : spec.phase == kBackwardPhase           ? execute_backward_case(spec, slot, cache, seed)
                                                  : execute_attention_case(spec, slot, cache, seed);
}

}  // namespace attnbench
