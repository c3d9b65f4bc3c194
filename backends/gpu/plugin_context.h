// Plugin state and the device-memory half of the ab_plugin table (create, destroy,
// device_info, alloc/upload/download/fill), written once over gpu_compat.h for CUDA
// and HIP. Included by exactly one device TU per plugin (C++17, no fmt/json).
#pragma once

#include <stdio.h>
#include <string.h>

#include <string>

#include "attnbench/plugin_abi.h"
#include "gpu_compat.h"
#if defined(AB_GPU_HIP)
#include "arch_match.h"
#endif

namespace attnbench::gpu {

/// One opened device: its stream, timing events, and scratch for per-call data
/// (varlen lengths, split partials) reused across calls.
struct Context {
  int device = 0;
  gpuDeviceProp_t prop{};
  gpuStream_t stream = nullptr;
  gpuEvent_t start = nullptr, stop = nullptr;
  bool force_simt = false;  // option path=simt: skip tensor cores (tests both paths)
  int wgmma_peak = -1;      // CUDA: wgmma peak kernel usable (sm_90 + sm_90a image): -1 not probed, 0, 1
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  std::string error;
};

/// Message of a failed create (no context exists yet to hold it).
inline std::string& create_error() {
  static thread_local std::string e;
  return e;
}

/// Records "what: runtime message" on ctx and returns `status`.
inline ab_status fail(Context* c, ab_status status, const std::string& what, gpuError_t e) {
  c->error = what + ": " + gpuGetErrorString(e);
  return status;
}

/// Start of every entry that launches work: selects the device and drops a last error an
/// earlier call left behind (a failed gpuMalloc in measure_peaks, say), so the check after
/// this call's launches reports this call's kernels only. Sticky errors (a kernel fault)
/// cannot be cleared and still fail the next runtime call, as they should.
inline void begin_call(const Context* c) {
  (void)gpuSetDevice(c->device);
  (void)gpuGetLastError();
}

/// Maps a runtime error to the ABI status (allocation failures are AB_OUT_OF_MEMORY).
inline ab_status status_of(gpuError_t e) {
  if (e == gpuSuccess) return AB_OK;
  return e == gpuErrorMemoryAllocation ? AB_OUT_OF_MEMORY : AB_INTERNAL_ERROR;
}

/// Devices usable now; a missing driver or device counts as zero, never an error.
inline int32_t device_count() {
  int n = 0;
  if (gpuGetDeviceCount(&n) != gpuSuccess) {
    (void)gpuGetLastError();  // clear the error so later calls start clean
    return 0;
  }
  return n;
}

/// Opens `device`; fails with AB_NO_DEVICE (and a reason) when there is none.
inline ab_status create(int32_t device, const char* options, void** out) {
  *out = nullptr;
  int n = 0;
  const gpuError_t e = gpuGetDeviceCount(&n);
  if (e != gpuSuccess || device < 0 || device >= n) {
    create_error() = std::string("no " AB_GPU_RUNTIME_NAME " device ") + std::to_string(device) +
                     " (" + std::to_string(e == gpuSuccess ? n : 0) + " found" +
                     (e != gpuSuccess ? std::string(": ") + gpuGetErrorString(e) : "") + ")";
    (void)gpuGetLastError();
    return AB_NO_DEVICE;
  }
  auto* c = new Context;
  c->device = device;
  c->force_simt = options && strstr(options, "path=simt") != nullptr;
  gpuError_t r = gpuSetDevice(device);
  if (r == gpuSuccess) r = gpuGetDeviceProperties(&c->prop, device);
#if defined(AB_GPU_HIP)
  // hipcc builds code objects only for the --offload-arch list (AB_HIP_BUILT_TARGETS,
  // from CMake): on any other GPU every launch would fail, so refuse the device now.
  if (r == gpuSuccess) {
    const std::string why = arch_mismatch(c->prop.gcnArchName, AB_HIP_BUILT_TARGETS);
    if (!why.empty()) {
      create_error() = "HIP device " + std::to_string(device) + ": " + why;
      delete c;
      return AB_NO_DEVICE;
    }
  }
#endif
  if (r == gpuSuccess) r = gpuStreamCreate(&c->stream);
  if (r == gpuSuccess) r = gpuEventCreate(&c->start);
  if (r == gpuSuccess) r = gpuEventCreate(&c->stop);
  if (r != gpuSuccess) {
    create_error() = std::string("opening device: ") + gpuGetErrorString(r);
    delete c;
    return AB_NO_DEVICE;
  }
  *out = c;
  return AB_OK;
}

/// Releases the stream, events and scratch of a context.
inline void destroy(void* ctx) {
  auto* c = static_cast<Context*>(ctx);
  if (!c) return;
  (void)gpuSetDevice(c->device);
  if (c->scratch) (void)gpuFree(c->scratch);
  if (c->start) (void)gpuEventDestroy(c->start);
  if (c->stop) (void)gpuEventDestroy(c->stop);
  if (c->stream) (void)gpuStreamDestroy(c->stream);
  delete c;
}

/// Last error of ctx, or of create when ctx is null.
inline const char* last_error(void* ctx) {
  return ctx ? static_cast<Context*>(ctx)->error.c_str() : create_error().c_str();
}

/// Name, driver/runtime versions, memory and SM/CU count from the device properties.
inline ab_status device_info(void* ctx, ab_device_info* out) {
  auto* c = static_cast<Context*>(ctx);
  memset(out, 0, sizeof(*out));
  snprintf(out->name, sizeof(out->name), "%s", c->prop.name);
  int drv = 0, rt = 0;
  (void)gpuDriverGetVersion(&drv);
  (void)gpuRuntimeGetVersion(&rt);
  snprintf(out->driver, sizeof(out->driver), AB_GPU_RUNTIME_NAME " driver %d runtime %d cc %d.%d", drv,
           rt, c->prop.major, c->prop.minor);
  out->memory_bytes = c->prop.totalGlobalMem;
  out->compute_units = c->prop.multiProcessorCount;
  return AB_OK;
}

/// Free and total device memory now (the runtime's view).
inline ab_status memory_info(void* ctx, uint64_t* free_bytes, uint64_t* total_bytes) {
  auto* c = static_cast<Context*>(ctx);
  size_t f = 0, t = 0;
  (void)gpuSetDevice(c->device);
  const gpuError_t e = gpuMemGetInfo(&f, &t);
  if (e != gpuSuccess) return fail(c, status_of(e), "querying device memory", e);
  *free_bytes = f;
  *total_bytes = t;
  return AB_OK;
}

/// Device allocation; failure maps to AB_OUT_OF_MEMORY.
inline ab_status alloc(void* ctx, size_t bytes, ab_buffer* out) {
  auto* c = static_cast<Context*>(ctx);
  void* p = nullptr;
  const gpuError_t e = gpuMalloc(&p, bytes ? bytes : 1);
  if (e != gpuSuccess) {
    (void)gpuGetLastError();
    *out = nullptr;
    return fail(c, status_of(e), "allocating " + std::to_string(bytes) + " bytes", e);
  }
  *out = static_cast<ab_buffer>(p);
  return AB_OK;
}

inline void release(void*, ab_buffer buf) {
  if (buf) (void)gpuFree(buf);
}

inline ab_status upload(void* ctx, ab_buffer dst, const void* src, size_t bytes) {
  const gpuError_t e = gpuMemcpy(dst, src, bytes, gpuMemcpyHostToDevice);
  return e == gpuSuccess ? AB_OK : fail(static_cast<Context*>(ctx), status_of(e), "upload", e);
}

inline ab_status download(void* ctx, void* dst, ab_buffer src, size_t bytes) {
  const gpuError_t e = gpuMemcpy(dst, src, bytes, gpuMemcpyDeviceToHost);
  return e == gpuSuccess ? AB_OK : fail(static_cast<Context*>(ctx), status_of(e), "download", e);
}

inline ab_status fill(void* ctx, ab_buffer dst, uint8_t byte, size_t bytes) {
  gpuError_t e = gpuMemset(dst, byte, bytes);
  if (e == gpuSuccess) e = gpuDeviceSynchronize();
  return e == gpuSuccess ? AB_OK : fail(static_cast<Context*>(ctx), status_of(e), "fill", e);
}

/// Scratch of at least `bytes`, grown (never shrunk) across calls.
inline ab_status scratch(Context* c, size_t bytes, void** out) {
  if (c->scratch_bytes < bytes) {
    if (c->scratch) (void)gpuFree(c->scratch);
    c->scratch = nullptr;
    c->scratch_bytes = 0;
    const gpuError_t e = gpuMalloc(&c->scratch, bytes);
    if (e != gpuSuccess) {
      (void)gpuGetLastError();
      c->scratch = nullptr;
      return fail(c, status_of(e), "allocating workspace", e);
    }
    c->scratch_bytes = bytes;
  }
  *out = c->scratch;
  return AB_OK;
}

}  // namespace attnbench::gpu
