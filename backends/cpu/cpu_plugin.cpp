// The CPU backend as an attnbench plugin: the ab_plugin function table over the
// kernel library. Buffers are 64-byte aligned host allocations (large ones 2 MiB aligned,
// with transparent huge pages asked for); every kernel runs
// inside the context's oneTBB task_arena, whose size comes from "threads=N".
// No C++ exception crosses the ABI: each entry point catches and reports.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <tbb/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "attnbench/host_cache.h"
#include "attnbench/huge_pages.h"
#include "attnbench/plugin_abi.h"
#include "cpu_kernels.h"
#include "kv_context.h"

namespace {

using attnbench::cpu::Check;

struct CpuContext {
  int threads = 1;
  std::unique_ptr<tbb::task_arena> arena;
  std::string error;
  attnbench::cpu::PairCount last_pairs;  // what the last run_attention counted (call_stats)
};

thread_local std::string g_create_error;  // last_error(NULL): why create failed

CpuContext* as_ctx(void* ctx) { return static_cast<CpuContext*>(ctx); }

ab_status fail(void* ctx, ab_status s, std::string msg) {
  if (ctx) as_ctx(ctx)->error = std::move(msg);
  else g_create_error = std::move(msg);
  return s;
}

/// Runs f(), turning any escaping exception into AB_INTERNAL_ERROR (or OOM).
template <class F>
ab_status guarded(void* ctx, const char* what, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return fail(ctx, AB_OUT_OF_MEMORY, std::string(what) + ": out of host memory");
  } catch (const std::exception& e) {
    return fail(ctx, AB_INTERNAL_ERROR, std::string(what) + ": " + e.what());
  } catch (...) {
    return fail(ctx, AB_INTERNAL_ERROR, std::string(what) + ": unknown exception");
  }
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

/// Parses "key=value,..."; the only key is threads (1..4096).
ab_status parse_options(const char* options, int* threads, std::string* err) {
  *threads = default_threads();
  if (!options) return AB_OK;
  std::string s(options);
  size_t pos = 0;
  while (pos <= s.size()) {
    const size_t end = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key != "threads") {
      *err = "unknown option '" + key + "' (the cpu backend accepts: threads=N)";
      return AB_INVALID_ARGUMENT;
    }
    char* tail = nullptr;
    const long n = std::strtol(value.c_str(), &tail, 10);
    if (value.empty() || *tail != '\0' || n < 1 || n > 4096) {
      *err = "threads must be an integer in [1, 4096] (got '" + value + "')";
      return AB_INVALID_ARGUMENT;
    }
    *threads = static_cast<int>(n);
  }
  return AB_OK;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown CPU";
}

void copy_str(char* dst, size_t cap, const std::string& s) {
  std::snprintf(dst, cap, "%s", s.c_str());
}

int32_t cpu_device_count(void) { return 1; }

ab_status cpu_create(int32_t device, const char* options, void** out) {
  return guarded(nullptr, "create", [&]() -> ab_status {
    if (!out) return fail(nullptr, AB_INVALID_ARGUMENT, "create: ctx pointer is NULL");
    *out = nullptr;
    if (device != 0)
      return fail(nullptr, AB_INVALID_ARGUMENT,
                  "the cpu backend has one device (0), got " + std::to_string(device));
    int threads = 0;
    std::string err;
    if (parse_options(options, &threads, &err) != AB_OK) return fail(nullptr, AB_INVALID_ARGUMENT, err);
    auto ctx = std::make_unique<CpuContext>();
    ctx->threads = threads;
    ctx->arena = std::make_unique<tbb::task_arena>(threads);
    attnbench::cpu::active_isa();  // the ISA level is chosen here, once per process
    *out = ctx.release();
    return AB_OK;
  });
}

void cpu_destroy(void* ctx) { delete as_ctx(ctx); }

const char* cpu_last_error(void* ctx) {
  return ctx ? as_ctx(ctx)->error.c_str() : g_create_error.c_str();
}

ab_status cpu_device_info(void* ctx, ab_device_info* out) {
  return guarded(ctx, "device_info", [&]() -> ab_status {
    if (!ctx || !out) return fail(ctx, AB_INVALID_ARGUMENT, "device_info: NULL argument");
    std::memset(out, 0, sizeof *out);
    copy_str(out->name, sizeof out->name, cpu_model_name());
    // The ISA level the kernels run at goes into the driver string, which the harness
    // stores with the run (runs.driver) and shows in reports: "isa=avx2 (best avx512bf16)"
    // when ATTNBENCH_CPU_ISA caps it below the CPU's best.
    namespace cpu = attnbench::cpu;
    std::string isa = std::string("isa=") + cpu::isa_name(cpu::active_isa());
    if (cpu::active_isa() != cpu::best_isa()) isa += std::string(" (best ") + cpu::isa_name(cpu::best_isa()) + ")";
    copy_str(out->driver, sizeof out->driver,
             "oneTBB " + std::to_string(TBB_VERSION_MAJOR) + "." + std::to_string(TBB_VERSION_MINOR) + ", " + isa);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    out->memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
    out->compute_units = as_ctx(ctx)->threads;
    return AB_OK;
  });
}

ab_status report(void* ctx, const Check& c) {
  return c.ok() ? AB_OK : fail(ctx, c.status, c.reason);
}

ab_status cpu_supports(void* ctx, const char* variant, const ab_attention_args* args) {
  return guarded(ctx, "supports", [&]() -> ab_status {
    if (!args) return fail(ctx, AB_INVALID_ARGUMENT, "supports: args is NULL");
    return report(ctx, attnbench::cpu::supports(variant, *args));
  });
}

ab_status cpu_alloc(void* ctx, size_t bytes, ab_buffer* out) {
  return guarded(ctx, "alloc", [&]() -> ab_status {
    if (!out) return fail(ctx, AB_INVALID_ARGUMENT, "alloc: out is NULL");
    *out = nullptr;
    // aligned_alloc wants a multiple of the alignment; refuse sizes that would wrap.
    if (bytes > SIZE_MAX - 64)
      return fail(ctx, AB_OUT_OF_MEMORY, "alloc: " + std::to_string(bytes) + " bytes is too large");
    const size_t rounded = (bytes + 63) / 64 * 64 + (bytes == 0 ? 64 : 0);
    // Large buffers (a long context's K and V) on 2 MiB boundaries with transparent huge
    // pages asked for, as an inference engine would allocate its KV cache: uploading
    // hundreds of MB otherwise takes a page fault per 4 KiB, which cost seconds per case
    // in a VM. Kernel times were the same within noise either way (decode, 16K, fp32).
    constexpr size_t kHuge = attnbench::kHugePageBytes;
    const bool huge = rounded >= 2 * kHuge;
    const size_t size = huge ? (rounded + kHuge - 1) / kHuge * kHuge : rounded;
    void* p = std::aligned_alloc(huge ? kHuge : 64, size);
    if (!p) return fail(ctx, AB_OUT_OF_MEMORY, "alloc: could not allocate " + std::to_string(bytes) + " bytes");
    if (huge) attnbench::advise_huge_pages(p, size);
    *out = static_cast<ab_buffer>(p);
    return AB_OK;
  });
}

void cpu_release(void*, ab_buffer buf) { std::free(buf); }

ab_status cpu_upload(void* ctx, ab_buffer dst, const void* src, size_t bytes) {
  if (bytes && (!dst || !src)) return fail(ctx, AB_INVALID_ARGUMENT, "upload: NULL pointer");
  if (bytes) std::memcpy(dst, src, bytes);
  return AB_OK;
}

ab_status cpu_download(void* ctx, void* dst, ab_buffer src, size_t bytes) {
  if (bytes && (!dst || !src)) return fail(ctx, AB_INVALID_ARGUMENT, "download: NULL pointer");
  if (bytes) std::memcpy(dst, src, bytes);
  return AB_OK;
}

ab_status cpu_fill(void* ctx, ab_buffer dst, uint8_t byte, size_t bytes) {
  if (bytes && !dst) return fail(ctx, AB_INVALID_ARGUMENT, "fill: NULL buffer");
  constexpr size_t kChunk = size_t{4} << 20;
  if (bytes < 2 * kChunk || !ctx) {
    if (bytes) std::memset(dst, byte, bytes);
    return AB_OK;
  }
  // Large fills (poisoned outputs, --cold's cache flush) run on every thread of the arena:
  // faster, and a flush then reaches the last-level cache of each core complex the
  // kernels run on, not only the calling thread's.
  auto* p = reinterpret_cast<unsigned char*>(dst);
  const size_t chunks = (bytes + kChunk - 1) / kChunk;
  as_ctx(ctx)->arena->execute([&] {
    tbb::parallel_for(size_t{0}, chunks, [&](size_t i) {
      std::memset(p + i * kChunk, byte, std::min(kChunk, bytes - i * kChunk));
    });
  });
  return AB_OK;
}

ab_status cpu_run_attention(void* ctx, const char* variant, const ab_attention_args* args,
                            double* seconds) {
  return guarded(ctx, "run_attention", [&]() -> ab_status {
    if (!ctx || !args) return fail(ctx, AB_INVALID_ARGUMENT, "run_attention: NULL argument");
    if (seconds) *seconds = 0;
    if (Check c = attnbench::cpu::supports(variant, *args); !c.ok()) return report(ctx, c);
    Check result;
    double dt = 0;
    as_ctx(ctx)->arena->execute([&] {
      const auto t0 = std::chrono::steady_clock::now();
      result = attnbench::cpu::run_variant(variant, *args);
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
    // The kernel library counts in one process-wide counter: contexts that run
    // concurrently in one process would mix their counts (a worker has one context).
    as_ctx(ctx)->last_pairs = attnbench::cpu::last_pair_count();
    if (seconds) *seconds = dt;
    return report(ctx, result);
  });
}

ab_status cpu_run_backward(void* ctx, const char* variant, const ab_backward_args* args, double* seconds) {
  return guarded(ctx, "run_backward", [&]() -> ab_status {
    if (!ctx || !args) return fail(ctx, AB_INVALID_ARGUMENT, "run_backward: NULL argument");
    if (seconds) *seconds = 0;
    if (Check c = attnbench::cpu::supports_backward(variant, args->fwd); !c.ok()) return report(ctx, c);
    Check result;
    double dt = 0;
    as_ctx(ctx)->arena->execute([&] {
      const auto t0 = std::chrono::steady_clock::now();
      result = attnbench::cpu::run_backward_variant(variant, *args);
      dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    });
    if (seconds) *seconds = dt;
    return report(ctx, result);
  });
}

ab_status cpu_call_stats(void* ctx, ab_call_stats* out) {
  if (!ctx || !out) return fail(ctx, AB_INVALID_ARGUMENT, "call_stats: NULL argument");
  *out = ab_call_stats{};
  out->pairs_counted = as_ctx(ctx)->last_pairs.counted ? 1 : 0;
  out->attended_pairs = as_ctx(ctx)->last_pairs.pairs;
  return AB_OK;
}

ab_status cpu_measure_peaks(void* ctx, ab_peaks* out) {
  return guarded(ctx, "measure_peaks", [&]() -> ab_status {
    if (!ctx || !out) return fail(ctx, AB_INVALID_ARGUMENT, "measure_peaks: NULL argument");
    attnbench::cpu::CpuPeaks p;
    as_ctx(ctx)->arena->execute([&] { p = attnbench::cpu::measure_peaks(); });
    out->flops_f32 = p.flops_f32;
    out->flops_f16 = p.flops_f16;    // AVX512-FP16 FMA, 0 without it (fp16 cases use flops_f32)
    out->bytes_per_second = p.bytes_per_second;
    out->flops_bf16 = p.flops_bf16;  // VDPBF16PS, 0 without AVX512-BF16 (bf16 cases use flops_f32)
    out->cache_bytes = static_cast<double>(attnbench::host_last_level_cache_bytes());
    return AB_OK;
  });
}

const ab_plugin kPlugin = {
    ATTNBENCH_PLUGIN_API_VERSION,
    sizeof(ab_plugin),
    "cpu",
    "CPU backend (oneTBB; AVX512-BF16/AVX-512/AVX2/generic kernels chosen at run time)",
    "0.1.0",
    attnbench::cpu::variant_names(),
    cpu_device_count,
    cpu_create,
    cpu_destroy,
    cpu_last_error,
    cpu_device_info,
    cpu_supports,
    cpu_alloc,
    cpu_release,
    cpu_upload,
    cpu_download,
    cpu_fill,
    cpu_run_attention,
    cpu_measure_peaks,
    &attnbench::cpu::kv::cpu_kv_ops,
    cpu_run_backward,
    nullptr,  // memory_info
    cpu_call_stats,
};

}  // namespace

// The context hooks of the KV primitives table (kv_primitives/kv_context.h).
namespace attnbench::cpu::kv {
tbb::task_arena& context_arena(void* ctx) { return *as_ctx(ctx)->arena; }
ab_status context_fail(void* ctx, ab_status s, std::string msg) { return fail(ctx, s, std::move(msg)); }
}  // namespace attnbench::cpu::kv

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
