// The onednn backend as an attnbench plugin (ABI v2): the peer a framework without a fused
// attention kernel is, built on oneDNN's matmul and softmax primitives (which pick
// AMX / AVX512-BF16 / AVX-512 kernels for the CPU they run on). Buffers are 64-byte
// aligned host allocations; threads=N sets the OpenMP team oneDNN runs on. No C++
// exception crosses the ABI: each entry point catches and reports.
#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "attnbench/host_cache.h"
#include "attnbench/plugin_abi.h"
#include "onednn_attention.h"
#include "onednn_peaks.h"

namespace {

using attnbench::onednn::Check;

struct Context {
  int threads = 1;
  int block_rows = 0;  // 0: chosen per case from len_k
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  attnbench::onednn::AttentionRunner runner{eng, strm};
  std::string error;
};

thread_local std::string g_create_error;  // last_error(NULL): why create failed

Context* as_ctx(void* ctx) { return static_cast<Context*>(ctx); }

ab_status fail(void* ctx, ab_status s, std::string msg) {
  (ctx ? as_ctx(ctx)->error : g_create_error) = std::move(msg);
  return s;
}

ab_status report(void* ctx, const Check& c) { return c.ok() ? AB_OK : fail(ctx, c.status, c.reason); }

/// Runs f(), turning any escaping exception (dnnl::error included) into a status.
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

/// Parses one integer option value in [lo, hi].
bool parse_int(const std::string& value, long lo, long hi, int* out) {
  char* tail = nullptr;
  const long n = std::strtol(value.c_str(), &tail, 10);
  if (value.empty() || *tail != '\0' || n < lo || n > hi) return false;
  *out = static_cast<int>(n);
  return true;
}

/// Parses "key=value,...": threads=N (1..4096) and block_rows=N (query rows per block).
ab_status parse_options(const char* options, Context* c, std::string* err) {
  const unsigned hw = std::thread::hardware_concurrency();
  c->threads = hw ? static_cast<int>(hw) : 1;
  const std::string s = options ? options : "";
  for (size_t pos = 0; pos <= s.size();) {
    const size_t end = std::min(s.find(',', pos), s.size());
    const std::string item = s.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "threads") {
      if (!parse_int(value, 1, 4096, &c->threads)) {
        *err = "threads must be an integer in [1, 4096] (got '" + value + "')";
        return AB_INVALID_ARGUMENT;
      }
    } else if (key == "block_rows") {
      if (!parse_int(value, 1, 1 << 20, &c->block_rows)) {
        *err = "block_rows must be an integer in [1, 1048576] (got '" + value + "')";
        return AB_INVALID_ARGUMENT;
      }
    } else {
      *err = "unknown option '" + key + "' (the onednn backend accepts: threads=N, block_rows=N)";
      return AB_INVALID_ARGUMENT;
    }
  }
  return AB_OK;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  return "unknown CPU";
}

/// The ISA oneDNN dispatches to on this CPU, as its own name.
const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::sse41: return "sse41";
    default: return "other";
  }
}

int32_t onednn_device_count(void) { return 1; }

ab_status onednn_create(int32_t device, const char* options, void** out) {
  return guarded(nullptr, "create", [&]() -> ab_status {
    if (!out) return fail(nullptr, AB_INVALID_ARGUMENT, "create: ctx pointer is NULL");
    *out = nullptr;
    if (device != 0)
      return fail(nullptr, AB_INVALID_ARGUMENT, "the onednn backend has one device (0), got " + std::to_string(device));
    auto ctx = std::make_unique<Context>();
    std::string err;
    if (parse_options(options, ctx.get(), &err) != AB_OK) return fail(nullptr, AB_INVALID_ARGUMENT, err);
    *out = ctx.release();
    return AB_OK;
  });
}

void onednn_destroy(void* ctx) { delete as_ctx(ctx); }

const char* onednn_last_error(void* ctx) { return ctx ? as_ctx(ctx)->error.c_str() : g_create_error.c_str(); }

ab_status onednn_device_info(void* ctx, ab_device_info* out) {
  return guarded(ctx, "device_info", [&]() -> ab_status {
    if (!ctx || !out) return fail(ctx, AB_INVALID_ARGUMENT, "device_info: NULL argument");
    std::memset(out, 0, sizeof *out);
    std::snprintf(out->name, sizeof out->name, "%s", cpu_model_name().c_str());
    const dnnl_version_t* v = dnnl::version();
    std::snprintf(out->driver, sizeof out->driver, "oneDNN %d.%d.%d, %s", v->major, v->minor, v->patch,
                  isa_name(dnnl::get_effective_cpu_isa()));
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    out->memory_bytes = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * page : 0;
    out->compute_units = as_ctx(ctx)->threads;
    return AB_OK;
  });
}

/// Shape rules, then whether oneDNN has this storage type's primitives on this CPU.
Check supports_case(Context* c, const char* variant, const ab_attention_args& a) {
  if (Check r = attnbench::onednn::check_args(variant, a); !r.ok()) return r;
  return c->runner.dtype_supported(a.dtype);
}

ab_status onednn_supports(void* ctx, const char* variant, const ab_attention_args* args) {
  return guarded(ctx, "supports", [&]() -> ab_status {
    if (!ctx || !args) return fail(ctx, AB_INVALID_ARGUMENT, "supports: NULL argument");
    return report(ctx, supports_case(as_ctx(ctx), variant, *args));
  });
}

ab_status onednn_alloc(void* ctx, size_t bytes, ab_buffer* out) {
  return guarded(ctx, "alloc", [&]() -> ab_status {
    if (!out) return fail(ctx, AB_INVALID_ARGUMENT, "alloc: out is NULL");
    *out = nullptr;
    if (bytes > SIZE_MAX - 128) return fail(ctx, AB_OUT_OF_MEMORY, "alloc: " + std::to_string(bytes) + " bytes is too large");
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + (bytes == 0 ? 64 : 0));
    if (!p) return fail(ctx, AB_OUT_OF_MEMORY, "alloc: could not allocate " + std::to_string(bytes) + " bytes");
    *out = static_cast<ab_buffer>(p);
    return AB_OK;
  });
}

void onednn_release(void*, ab_buffer buf) { std::free(buf); }

ab_status onednn_upload(void* ctx, ab_buffer dst, const void* src, size_t bytes) {
  if (bytes && (!dst || !src)) return fail(ctx, AB_INVALID_ARGUMENT, "upload: NULL pointer");
  if (bytes) std::memcpy(dst, src, bytes);
  return AB_OK;
}

ab_status onednn_download(void* ctx, void* dst, ab_buffer src, size_t bytes) {
  if (bytes && (!dst || !src)) return fail(ctx, AB_INVALID_ARGUMENT, "download: NULL pointer");
  if (bytes) std::memcpy(dst, src, bytes);
  return AB_OK;
}

ab_status onednn_fill(void* ctx, ab_buffer dst, uint8_t byte, size_t bytes) {
  if (bytes && !dst) return fail(ctx, AB_INVALID_ARGUMENT, "fill: NULL buffer");
  if (bytes) std::memset(dst, byte, bytes);
  return AB_OK;
}

ab_status onednn_run_attention(void* ctx, const char* variant, const ab_attention_args* args, double* seconds) {
  return guarded(ctx, "run_attention", [&]() -> ab_status {
    if (!ctx || !args) return fail(ctx, AB_INVALID_ARGUMENT, "run_attention: NULL argument");
    if (seconds) *seconds = 0;
    Context* c = as_ctx(ctx);
    if (Check r = supports_case(c, variant, *args); !r.ok()) return report(ctx, r);
    omp_set_num_threads(c->threads);  // the calling thread's team size, which oneDNN uses
    const auto t0 = std::chrono::steady_clock::now();
    const Check r = c->runner.run(*args, c->block_rows);
    if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report(ctx, r);
  });
}

ab_status onednn_measure_peaks(void* ctx, ab_peaks* out) {
  return guarded(ctx, "measure_peaks", [&]() -> ab_status {
    if (!ctx || !out) return fail(ctx, AB_INVALID_ARGUMENT, "measure_peaks: NULL argument");
    Context* c = as_ctx(ctx);
    omp_set_num_threads(c->threads);
    // The achievable matrix rate per type, each in its own slot (0 where oneDNN has no
    // matmul of that type here, e.g. fp16 without AVX512-FP16).
    out->flops_f32 = attnbench::onednn::measure_gemm_rate(c->eng, c->strm, AB_F32);
    out->flops_bf16 = attnbench::onednn::measure_gemm_rate(c->eng, c->strm, AB_BF16);
    out->flops_f16 = c->runner.dtype_supported(AB_F16).ok()
                         ? attnbench::onednn::measure_gemm_rate(c->eng, c->strm, AB_F16) : 0;
    out->bytes_per_second = attnbench::onednn::measure_read_bandwidth();
    out->cache_bytes = static_cast<double>(attnbench::host_last_level_cache_bytes());
    return AB_OK;
  });
}

const ab_plugin kPlugin = {
    ATTNBENCH_PLUGIN_API_VERSION,
    sizeof(ab_plugin),
    "onednn",
    "oneDNN peer: matmul Q K^T, softmax primitive, matmul with V (unfused, as a framework runs it)",
    "0.1.0",
    attnbench::onednn::variant_names(),
    onednn_device_count,
    onednn_create,
    onednn_destroy,
    onednn_last_error,
    onednn_device_info,
    onednn_supports,
    onednn_alloc,
    onednn_release,
    onednn_upload,
    onednn_download,
    onednn_fill,
    onednn_run_attention,
    onednn_measure_peaks,
    nullptr,  // kv: no KV primitives, so KV-method cases on this backend are unsupported
    nullptr,  // run_backward
    nullptr,  // memory_info: the harness uses device_info
    nullptr,  // call_stats: exact attention, nothing to count
};

}  // namespace

extern "C" ATTNBENCH_EXPORT const ab_plugin* attnbench_plugin_entry(void) { return &kPlugin; }
