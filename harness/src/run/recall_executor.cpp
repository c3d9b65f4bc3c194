#include "recall_executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "counter_rng.h"
#include "gbench_timer.h"
#include "kv_primitives.h"
#include "recall_kv_case.h"
#include "recall_tasks.h"
#include "statistics.h"

namespace attnbench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

const recall::RecallCase& recall_task_data(const RecallCaseSpec& r, uint64_t seed) {
  // Consecutive cases differ only in method or variant (the suite expands both inside
  // each task cell), so one generation serves all of them. The runner executes cases one
  // at a time; thread_local keeps that assumption harmless.
  struct Last {
    std::string key;
    recall::RecallCase data;
  };
  static thread_local Last last;
  const std::string shape = r.shape();
  const std::string key = fmt::format("{}#{}", shape, seed);
  if (last.key != key) {
    recall::RecallKnobs k = r.knobs;
    k.seed = seed;
    // The case hash comes from the task shape alone, never the method or variant, so
    // every case of a cell sees the same haystack and needles.
    k.case_hash = gen::hash_string(shape.c_str());
    last.key.clear();  // a throwing generation must not leave a stale key behind
    last.data = recall::make_task(r.task, k);
    last.key = key;
  }
  return last.data;
}

namespace {

/// Compression time: Google Benchmark repetitions when the suite asks for more than one
/// call, else the single call already measured (quick suites stay one call per case).
double time_compress(const CaseSpec& spec, const ab_kv_env& env, const kv::KvPolicy& policy, const ab_kv_layer& layer,
                     double first_call, store::CaseRecord& rec) {
  if (spec.repetitions <= 1 && spec.min_time <= 0) {
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
    const recall::RecallCase& rc = recall_task_data(r, seed);
    const auto policy = kv::make_kv_policy(r.method);
    const ab_kv_env env{&slot.device->table(), slot.device->context()};
    kv::KvPrimitives prims(env);
    kv::DeviceLayer dev = kv::upload_layer(prims, rc, policy->needs_queries());
    const kv::KvCaseRun run = kv::run_kv_case(env, rc, *policy, dev);
    const kv::RecallMetrics& m = run.metrics;
    rec.metrics.push_back({"kv_bytes", static_cast<double>(m.kv_bytes), "B"});
    rec.metrics.push_back({"kv_bytes_full", static_cast<double>(m.full_bytes), "B"});
    rec.metrics.push_back({"compression_ratio", m.compression_ratio, "ratio"});
    if (r.has_depth) rec.metrics.push_back({"needle_depth", r.task.depth, "ratio"});
    if (r.budget > 0) rec.metrics.push_back({"budget_tokens", static_cast<double>(r.budget), "count"});
    rec.metrics.push_back({"questions", static_cast<double>(rc.n_questions), "count"});
    // Method-specific measurements (e.g. retrieval_offload's fraction of keys scanned).
    for (const auto& [name, value] : run.extra) rec.metrics.push_back({name, value, "ratio"});
    const std::string why = recall_failure(run.budget, m);
    if (!why.empty()) {
      rec.status = "failed";
      rec.message = why;
    } else {
      rec.metrics.push_back({"recall_accuracy", m.accuracy, "ratio"});
      rec.metrics.push_back({"attention_mass_kept", m.mass_kept, "ratio"});
      rec.metrics.push_back({"output_error_vs_full", m.output_error, "ratio"});
      rec.metrics.push_back({"compress_time", time_compress(spec, env, *policy, dev.layer, run.compress_wall, rec), "s"});
      rec.metrics.push_back({"compress_kernel_time", run.compress_kernel, "s"});
      rec.metrics.push_back({"decode_time", run.decode_kernel, "s"});
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
