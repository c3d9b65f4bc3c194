#include "recall_executor.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "counter_rng.h"
#include "gbench_timer.h"
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
double time_compress(const CaseSpec& spec, const kv::KvMethod& method, const kv::KvInput& in, double first_call,
                     store::CaseRecord& rec) {
  if (spec.repetitions <= 1 && spec.min_time <= 0) {
    rec.samples.push_back({0, 1, first_call});
    return first_call;
  }
  const TimingResult t = time_case(rec.case_key, spec.repetitions, spec.min_time, [&] {
    const auto t0 = Clock::now();
    const kv::CompressedCache c = method.compress(in);
    const double s = seconds_since(t0);
    if (c.heads.empty()) throw std::runtime_error("compress returned no heads");  // also keeps c alive
    return s;
  });
  if (!t.error.empty()) throw std::runtime_error("timing compress: " + t.error);
  std::vector<double> secs;
  for (const auto& s : t.samples) {
    rec.samples.push_back({s.repetition, s.iterations, s.seconds});
    secs.push_back(s.seconds);
  }
  return summarize(secs).median;
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

store::CaseRecord execute_recall_case(const CaseSpec& spec, const BackendSlot& slot, uint64_t seed) {
  store::CaseRecord rec = describe_case(spec, slot.device ? slot.device->info().name : "host");
  const RecallCaseSpec& r = *spec.recall;
  const auto t0 = Clock::now();
  try {
    const recall::RecallCase& rc = recall_task_data(r, seed);
    const auto method = kv::make_kv_method(r.method);
    const kv::KvInput in = kv::kv_input(rc);
    const auto c0 = Clock::now();
    const kv::CompressedCache cache = method->compress(in);
    const double first_compress = seconds_since(c0);
    const kv::BudgetCheck budget = kv::check_budget(*method, in, cache);
    kv::RecallMetrics m;
    double decode_s = 0;
    if (budget.ok) {
      m = kv::evaluate_recall(rc, cache);
      // Decode alone (evaluate_recall also runs the full-cache reference, which is not the method's cost).
      const auto d0 = Clock::now();
      kv::decode_compressed(cache, rc.q_question.data(), rc.heads_q, rc.n_questions, true);
      decode_s = seconds_since(d0);
    }
    rec.metrics.push_back({"kv_bytes", static_cast<double>(cache.bytes_kept), "B"});
    rec.metrics.push_back({"kv_bytes_full", static_cast<double>(cache.bytes_full), "B"});
    rec.metrics.push_back({"compression_ratio", cache.compression_ratio(), "ratio"});
    if (r.has_depth) rec.metrics.push_back({"needle_depth", r.task.depth, "ratio"});
    if (r.budget > 0) rec.metrics.push_back({"budget_tokens", static_cast<double>(r.budget), "count"});
    rec.metrics.push_back({"questions", static_cast<double>(rc.n_questions), "count"});
    // Method-specific measurements (e.g. retrieval_offload's fraction of keys scanned).
    for (const auto& [name, value] : cache.extra_metrics) rec.metrics.push_back({name, value, "ratio"});
    const std::string why = recall_failure(budget, m);
    if (!why.empty()) {
      rec.status = "failed";
      rec.message = why;
    } else {
      rec.metrics.push_back({"recall_accuracy", m.accuracy, "ratio"});
      rec.metrics.push_back({"attention_mass_kept", m.mass_kept, "ratio"});
      rec.metrics.push_back({"output_error_vs_full", m.output_error, "ratio"});
      rec.metrics.push_back({"compress_time", time_compress(spec, *method, in, first_compress, rec), "s"});
      rec.metrics.push_back({"decode_time", decode_s, "s"});
    }
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
