// The CPU plugin's ab_kv_ops table: each entry checks for NULL, validates, then runs
// the primitive inside the context's task arena and returns the kernel's own duration
// (validation excluded) in *seconds. No exception crosses the ABI.
#include <chrono>
#include <new>
#include <string>
#include <type_traits>

#include "kv_context.h"
#include "kv_primitives.h"

namespace attnbench::cpu::kv {
namespace {

/// Validates and runs a primitive with timing; every failure lands in last_error.
template <class Args>
ab_status timed(void* ctx, const char* what, const Args* a, double* seconds) {
  if (seconds) *seconds = 0;
  if (!ctx) return AB_INVALID_ARGUMENT;
  try {
    if (!a) return context_fail(ctx, AB_INVALID_ARGUMENT, std::string(what) + ": args is NULL");
    Check c;
    if constexpr (std::is_same_v<Args, ab_kv_quant_args>) c = validate(*a, true);
    else c = validate(*a);
    if (!c.ok()) return context_fail(ctx, c.status, c.reason);
    double dt = 0;
    context_arena(ctx).execute([&] {
      const auto t0 = std::chrono::steady_clock::now();
      run(*a);
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
    if (seconds) *seconds = dt;
    return AB_OK;
  } catch (const std::bad_alloc&) {
    return context_fail(ctx, AB_OUT_OF_MEMORY, std::string(what) + ": out of host memory");
  } catch (const std::exception& e) {
    return context_fail(ctx, AB_INTERNAL_ERROR, std::string(what) + ": " + e.what());
  } catch (...) {
    return context_fail(ctx, AB_INTERNAL_ERROR, std::string(what) + ": unknown exception");
  }
}

ab_status kv_observation_scores(void* ctx, const ab_kv_score_args* a, double* s) { return timed(ctx, "observation_scores", a, s); }
ab_status kv_statistics(void* ctx, const ab_kv_stat_args* a, double* s) { return timed(ctx, "statistics", a, s); }
ab_status kv_topk(void* ctx, const ab_kv_topk_args* a, double* s) { return timed(ctx, "topk", a, s); }
ab_status kv_dot(void* ctx, const ab_kv_dot_args* a, double* s) { return timed(ctx, "dot", a, s); }
ab_status kv_compact(void* ctx, const ab_kv_compact_args* a, double* s) { return timed(ctx, "compact", a, s); }
ab_status kv_quantize(void* ctx, const ab_kv_quant_args* a, double* s) { return timed(ctx, "quantize", a, s); }
ab_status kv_quant_decode(void* ctx, const ab_kv_quant_decode_args* a, double* s) { return timed(ctx, "quant_decode", a, s); }

ab_status kv_quant_bytes(void* ctx, const ab_kv_quant_args* a, size_t* bytes) {
  if (!ctx) return AB_INVALID_ARGUMENT;
  if (!a || !bytes) return context_fail(ctx, AB_INVALID_ARGUMENT, "quant_bytes: NULL argument");
  *bytes = 0;
  if (Check c = validate(*a, false); !c.ok()) return context_fail(ctx, c.status, c.reason);
  *bytes = quant_cache_bytes(*a);
  return AB_OK;
}

}  // namespace

const ab_kv_ops cpu_kv_ops = {
    sizeof(ab_kv_ops), kv_observation_scores, kv_statistics, kv_topk,        kv_dot,
    kv_compact,        kv_quant_bytes,        kv_quantize,   kv_quant_decode,
};

}  // namespace attnbench::cpu::kv
