#include "recall_executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include "attention_calibration.h"
#include "attention_trace.h"
#include "counter_rng.h"
#include "gbench_timer.h"
#include "kv_primitives.h"
#include "recall_kv_case.h"
#include "recall_layers.h"
#include "recall_tasks.h"
#include "statistics.h"

namespace attnbench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

namespace {

/// Variant cases on a trace answer at most this many question tokens: each question is
/// its own sequence holding the whole context (recall_attention_inputs).
constexpr int32_t kTraceVariantQuestions = 8;

/// The checked trace of `dir`, once per worker thread and folder.
const trace::TraceInfo& trace_info(const std::string& dir) {
  static thread_local std::map<std::string, trace::TraceInfo> infos;
  auto it = infos.find(dir);
  if (it == infos.end()) it = infos.emplace(dir, trace::check_trace(dir)).first;
  return it->second;
}

}  // namespace

const recall::RecallCase& recall_task_data(const RecallCaseSpec& r, uint64_t seed, int32_t layer) {
  // Consecutive cases differ only in method or variant (the suite expands both inside
  // each task cell), so one generation serves all of them. The runner executes cases one
  // at a time; thread_local keeps that assumption harmless.
  struct Last {
    std::string key;
    recall::RecallCase data;
  };
  static thread_local Last last;
  if (layer < 0) layer = r.judged_layer();
  const bool variant_trace = r.is_trace() && r.is_variant();
  const std::string key = fmt::format("{}#{}#{}#{}", r.shape(), seed, layer, variant_trace);
  if (last.key != key) {
    last.key.clear();  // a throwing generation must not leave a stale key behind
    if (r.is_trace()) {
      last.data = trace::load_trace_layer(trace_info(r.trace_dir), layer, variant_trace ? kTraceVariantQuestions : 0);
    } else {
      recall::RecallKnobs k = recall::layer_knobs(r.knobs, layer, r.layers);
      k.seed = seed;
      k.question_in_prompt = !r.compress_before_question;
      // The case hash comes from the task's data shape alone, never the method, variant or
      // compression setting, so every case of a cell sees the same haystack and needles.
      k.case_hash = gen::hash_string(r.data_shape().c_str());
      last.data = recall::make_task(r.task, k);
    }
    last.key = key;
  }
  return last.data;
}

namespace {

/// Compression time: Google Benchmark repetitions when the suite asks for more than one
/// call, else the single call already measured (quick suites stay one call per case).
double time_compress(const CaseSpec& spec, const ab_kv_env& env, const kv::KvPolicy& policy, const ab_kv_layer& layer,
                     double first_call, store::CaseRecord& rec) {
  // A cross-layer method's layer depends on the layers before it (a shared cache, a
  // reused selection), so it cannot be repeated alone: its one pass over all layers counts.
  if ((spec.repetitions <= 1 && spec.min_time <= 0) || policy.cross_layer()) {
    rec.samples.push_back({0, 1, first_call});
    return first_call;
  }
  const TimingResult t = time_case(rec.case_key, spec.repetitions, spec.min_time,
                                   [&] { return kv::compress_once(env, policy, layer); });
  if (!t.error.empty()) throw std::runtime_error("timing compress: " + t.error);
  std::vector<double> secs;
  for (const auto& s : t.samples) {
    rec.samples.push_back({s.repetition, s.iterations, s.seconds});
    secs.push_back(s.seconds);
  }
  return summarize(secs).median;
}

/// "unsupported" reason for a backend that offers no KV primitives, or empty.
std::string missing_primitives(const BackendSlot& slot) {
  if (!slot.table) return fmt::format("backend '{}' was not loaded in this worker", slot.name);
  if (slot.table->api_version < 2)
    return fmt::format("backend '{}' is a v{} plugin: it runs attention only, KV methods need the v2 KV primitives",
                       slot.name, slot.table->api_version);
  if (!kv::has_kv_primitives(*slot.table)) return fmt::format("backend '{}' offers no KV primitives (kv table is NULL)", slot.name);
  return {};
}

}  // namespace

std::string recall_failure(const kv::BudgetCheck& budget, const kv::RecallMetrics& m) {
  if (!budget.ok) return "budget check failed: " + budget.error;
  if (!m.ok) return "decode check failed: " + (m.error.empty() ? std::string("no metrics") : m.error);
  for (double x : {m.accuracy, m.mass_kept, m.output_error, m.compression_ratio})
    if (!std::isfinite(x)) return "a recall metric is NaN/Inf";
  if (m.kv_bytes == 0 || m.full_bytes == 0) return "cache reports 0 bytes";
  return {};
}

store::CaseRecord execute_recall_case(const CaseSpec& spec, BackendSlot& slot, uint64_t seed) {
  store::CaseRecord rec = describe_case(spec, slot.device ? slot.device->info().name : "none");
  const RecallCaseSpec& r = *spec.recall;
  if (const std::string why = missing_primitives(slot); !why.empty()) {
    rec.status = "unsupported";
    rec.message = why;
    return rec;
  }
  if (!slot.device) {
    rec.status = "no_device";
    rec.message = slot.no_device_reason;
    return rec;
  }
  const auto t0 = Clock::now();
  try {
    const auto policy = kv::make_kv_policy(r.method);
    const ab_kv_env env{&slot.device->table(), slot.device->context()};
    kv::KvPrimitives prims(env);
    // Every layer compresses with its own index (pyramidkv's schedule); a generated case
    // is judged on its judged layer, a trace on the mean over its layers. Bytes add up.
    const int judged = r.judged_layer();
    kv::KvCaseRun run;
    kv::LayerChain chain(env, *policy);  // in layer order: cross-layer methods read earlier layers
    std::optional<kv::DeviceLayer> judged_dev;
    double mass_sum = 0, err_sum = 0, overlap_sum = 0, compress_kernel = 0, decode_kernel = 0, compress_wall = 0;
    int32_t n_questions = 0;
    uint64_t bytes = 0, full = 0;
    // "full" cases also measure the data's attention statistics (calibration section).
    const bool calibrate = r.method_name() == "full";
    trace::StatSummary sink, recent, entropy, corr, entropy_first, entropy_last;
    for (int layer = 0; layer < r.layers; ++layer) {
      const recall::RecallCase& rc = recall_task_data(r, seed, layer);
      n_questions = rc.n_questions;
      if (calibrate)
        for (const trace::HeadStats& h : trace::head_statistics(rc)) {
          sink.add(h.sink_mass), recent.add(h.recent_mass), entropy.add(h.entropy), corr.add(h.norm_corr);
          if (layer == 0) entropy_first.add(h.entropy);
          if (layer == r.layers - 1) entropy_last.add(h.entropy);
        }
      kv::DeviceLayer dev = kv::upload_layer(prims, rc, policy->needs_queries(), layer, r.layers);
      kv::KvCaseRun lr = chain.run(rc, dev);
      if (!lr.budget.ok && r.layers > 1) lr.budget.error = fmt::format("layer {}: {}", layer, lr.budget.error);
      if (!lr.metrics.ok && r.layers > 1) lr.metrics.error = fmt::format("layer {}: {}", layer, lr.metrics.error);
      if (!lr.budget.ok || !lr.metrics.ok) {  // the first failing layer is the outcome
        run = std::move(lr);
        break;
      }
      mass_sum += lr.metrics.mass_kept, err_sum += lr.metrics.output_error, overlap_sum += lr.metrics.topk_overlap;
      compress_kernel += lr.compress_kernel, decode_kernel += lr.decode_kernel, compress_wall += lr.compress_wall;
      bytes += lr.metrics.kv_bytes, full += lr.metrics.full_bytes;
      if (layer == judged) {
        run = std::move(lr);
        judged_dev = std::move(dev);
      }
    }
    run.metrics.kv_bytes = bytes, run.metrics.full_bytes = full;
    kv::RecallMetrics& m = run.metrics;
    m.compression_ratio = m.kv_bytes ? static_cast<double>(m.full_bytes) / m.kv_bytes : 0.0;
    if (r.is_trace()) {
      m.mass_kept = mass_sum / r.layers, m.output_error = err_sum / r.layers, m.topk_overlap = overlap_sum / r.layers;
    } else if (r.layers > 1) {
      rec.metrics.push_back({"attention_mass_kept_mean_layers", mass_sum / r.layers, "ratio"});
      rec.metrics.push_back({"output_error_mean_layers", err_sum / r.layers, "ratio"});
      rec.metrics.push_back({"judged_layer", static_cast<double>(judged), "count"});
    }
    if (r.layers > 1) rec.metrics.push_back({"layers", static_cast<double>(r.layers), "count"});
    if (calibrate && sink.count > 0) {
      for (const auto& [name, st, unit] : {std::tuple{"sink_mass", &sink, "ratio"}, std::tuple{"recent_mass", &recent, "ratio"},
                                           std::tuple{"entropy", &entropy, "nats"}, std::tuple{"norm_corr", &corr, "ratio"}}) {
        rec.metrics.push_back({fmt::format("calib_{}", name), st->mean, unit});
        rec.metrics.push_back({fmt::format("calib_{}_min", name), st->min, unit});
        rec.metrics.push_back({fmt::format("calib_{}_max", name), st->max, unit});
      }
      if (r.layers > 1) {
        rec.metrics.push_back({"calib_entropy_first_layer", entropy_first.mean, "nats"});
        rec.metrics.push_back({"calib_entropy_last_layer", entropy_last.mean, "nats"});
      }
    }
    if (r.is_trace()) rec.metrics.push_back({"trace_layers", static_cast<double>(r.layers), "count"});
    rec.metrics.push_back({"kv_bytes", static_cast<double>(m.kv_bytes), "B"});
    rec.metrics.push_back({"kv_bytes_full", static_cast<double>(m.full_bytes), "B"});
    rec.metrics.push_back({"compression_ratio", m.compression_ratio, "ratio"});
    if (r.has_depth && !r.is_trace()) rec.metrics.push_back({"needle_depth", r.task.depth, "ratio"});
    if (r.budget > 0) rec.metrics.push_back({"budget_tokens", static_cast<double>(r.budget), "count"});
    if (r.compression_ratio >= 0) rec.metrics.push_back({"compression_ratio_requested", r.compression_ratio, "ratio"});
    if (!r.is_trace())
      rec.metrics.push_back({"compress_before_question", r.compress_before_question ? 1.0 : 0.0, "count"});
    rec.metrics.push_back({"questions", static_cast<double>(n_questions), "count"});
    // Method-specific measurements (e.g. retrieval_offload's fraction of keys scanned).
    for (const auto& [name, value] : run.extra) rec.metrics.push_back({name, value, "ratio"});
    const std::string why = recall_failure(run.budget, m);
    if (!why.empty()) {
      rec.status = "failed";
      rec.message = why;
    } else {
      if (m.has_accuracy) rec.metrics.push_back({"recall_accuracy", m.accuracy, "ratio"});
      rec.metrics.push_back({"attention_mass_kept", m.mass_kept, "ratio"});
      rec.metrics.push_back({"output_error_vs_full", m.output_error, "ratio"});
      rec.metrics.push_back({"topk_overlap", m.topk_overlap, "ratio"});
      // Compression time: of one layer (the judged one) when it is repeated, of all layers otherwise.
      const double first_call = r.layers > 1 ? compress_wall : run.compress_wall;
      rec.metrics.push_back({"compress_time", time_compress(spec, env, *policy, judged_dev->layer, first_call, rec), "s"});
      rec.metrics.push_back({"compress_kernel_time", compress_kernel, "s"});
      rec.metrics.push_back({"decode_time", decode_kernel, "s"});
    }
  } catch (const kv::KvUnsupported& e) {
    rec.status = "unsupported";
    rec.message = e.what();
  } catch (const kv::KvPrimitiveError& e) {
    rec.status = e.status() == AB_OUT_OF_MEMORY ? "oom" : e.status() == AB_NO_DEVICE ? "no_device" : "error";
    rec.message = e.what();
  } catch (const std::bad_alloc&) {
    rec.status = "oom";
    rec.message = "host out of memory while generating or compressing the recall case";
  } catch (const std::exception& e) {
    rec.status = "error";
    rec.message = e.what();
  }
  rec.metrics.push_back({"case_wall_time", seconds_since(t0), "s"});
  return rec;
}

}  // namespace attnbench
