// run_backward of the ab_plugin table: flash and naive backward (backward_attention.cuh)
// launched on the context's stream and timed as run_attention is (device events around
// kLaunchesPerSample back-to-back launches of the call's kernels, divided; workspaces
// allocated before the start event; a runtime error left by an earlier call cleared first).
#pragma once

#include <string>
#include <type_traits>

#include "backward_attention.cuh"
#include "capabilities.h"
#include "plugin_context.h"
#include "plugin_kv.h"
#include "plugin_run.h"

namespace attnbench::gpu {

/// Grids of the backward kernels (GridFold over the device's grid.x limit).
inline GridFold flash_bwd_fold(const Context* c, const BwdParams& p, int keys, int threads) {
  return fold_for(c, threads, ceil_div(p.len_k, keys), p.heads_kv, p.batch);
}
inline GridFold naive_bwd_scores_fold(const Context* c, const BwdParams& p) {
  return fold_for(c, kNaiveBwdTile * kNaiveBwdTile, ceil_div(p.len_k, kNaiveBwdTile),
                  ceil_div(p.len_q, kNaiveBwdTile), p.batch * p.heads_q);
}
inline GridFold naive_bwd_dq_fold(const Context* c, const BwdParams& p) {
  return fold_for(c, kNaiveBwdTile * kNaiveBwdTile, ceil_div(p.head_dim, kNaiveBwdTile),
                  ceil_div(p.len_q, kNaiveBwdTile), p.batch * p.heads_q);
}
inline GridFold naive_bwd_dkv_fold(const Context* c, const BwdParams& p) {
  return fold_for(c, kNaiveBwdTile * kNaiveBwdTile, ceil_div(p.head_dim, kNaiveBwdTile),
                  ceil_div(p.len_k, kNaiveBwdTile), p.batch * p.heads_kv);
}

/// Launches the flash backward kernels for storage type T and head dims <= DMAX.
template <class T, int DMAX>
void launch_flash_bwd(const Context* c, const BwdParams& p, long long rows) {
  using Tile = BwdTile<DMAX>;
  const size_t dq_elems = static_cast<size_t>(rows) * p.head_dim;
  (void)gpuMemsetAsync(p.dq_acc, 0, dq_elems * sizeof(float), c->stream);
  if (p.len_k > 0) {  // no keys: dQ = 0 from the memset, dK and dV are empty
    launch_each(c, BwdDeltaItem<T>{p, rows});
    const GridFold g = flash_bwd_fold(c, p, Tile::kKeys, Tile::kThreads);
    flash_bwd_kernel<T, DMAX><<<dims_of(g), Tile::kThreads, 0, c->stream>>>(p, g);
  }
  if constexpr (!std::is_same_v<T, float>) {
    launch_each(c, BwdConvertItem<T>{p.dq_acc, static_cast<T*>(p.d_q), static_cast<int64_t>(dq_elems)});
  }
}

/// Launches the four naive backward kernels for storage type T.
template <class T>
void launch_naive_bwd(const Context* c, const BwdParams& p, long long rows) {
  const dim3 tile(kNaiveBwdTile, kNaiveBwdTile);
  if (p.len_k > 0) {
    launch_each(c, BwdDeltaItem<T>{p, rows});
    const GridFold gs = naive_bwd_scores_fold(c, p);
    naive_bwd_scores_kernel<T><<<dims_of(gs), tile, 0, c->stream>>>(p, gs);
  }
  const GridFold gq = naive_bwd_dq_fold(c, p);  // no keys: writes dQ = 0
  naive_bwd_dq_kernel<T><<<dims_of(gq), tile, 0, c->stream>>>(p, gq);
  if (p.len_k > 0) {
    const GridFold gk = naive_bwd_dkv_fold(c, p);
    naive_bwd_dkv_kernel<T><<<dims_of(gk), tile, 0, c->stream>>>(p, gk);
  }
}

/// One backward call's kernels for storage type T (no timing, no sync).
template <class T>
void launch_backward(const Context* c, bool naive, const BwdParams& p, long long rows) {
  if (naive) launch_naive_bwd<T>(c, p, rows);
  else if (simt_dmax(p.head_dim) == 64) launch_flash_bwd<T, 64>(c, p, rows);
  else launch_flash_bwd<T, 128>(c, p, rows);
}

/// Null if every grid of the call fits the device after folding, else why not.
inline const char* backward_grid_unfit_reason(const Context* c, bool naive, const BwdParams& p) {
  if (static_cast<long long>(p.batch) * p.heads_q > 0x7fffffffLL) return "batch * heads_q exceeds 2^31 - 1";
  const bool fits = naive ? naive_bwd_scores_fold(c, p).fits() && naive_bwd_dq_fold(c, p).fits() &&
                                naive_bwd_dkv_fold(c, p).fits()
                          : flash_bwd_fold(c, p, BwdTile<64>::kKeys, BwdTile<64>::kThreads).fits();
  return fits ? nullptr : "the backward launch grid exceeds the device's limits even folded into grid.x and grid.y";
}

/// Backward of `variant` (flash or naive): dQ, dK, dV from Q, K, V, O, LSE and dO; the
/// kernel time (device events) in *seconds, over kLaunchesPerSample launches divided.
inline ab_status run_backward(void* ctx, const char* variant, const ab_backward_args* args, double* seconds) {
  auto* c = static_cast<Context*>(ctx);
  const ab_attention_args& a = args->fwd;
  if (const char* why = invalid_reason(a)) {
    c->error = why;
    return AB_INVALID_ARGUMENT;
  }
  if (const char* why = backward_unsupported_reason(variant, a)) {
    c->error = why;
    return AB_UNSUPPORTED;
  }
  if (a.batch > 0 && a.len_q > 0 && (!a.q || !a.o || !a.lse || !args->d_o || !args->d_q)) {
    c->error = "backward needs q, o, lse, d_o and d_q buffers";
    return AB_INVALID_ARGUMENT;
  }
  if (a.batch > 0 && a.len_k > 0 && (!a.k || !a.v || !args->d_k || !args->d_v)) {
    c->error = "backward needs k, v, d_k and d_v buffers";
    return AB_INVALID_ARGUMENT;
  }
  const bool naive = strcmp(variant, "naive") == 0;
  BwdParams p{a.q, a.k, a.v, a.o, args->d_o, reinterpret_cast<const float*>(a.lse), args->d_q, args->d_k,
              args->d_v, nullptr, nullptr, nullptr, nullptr, a.batch, a.heads_q, a.heads_kv, a.len_q, a.len_k,
              a.head_dim, MaskHook{a.causal, a.window_left, a.window_right}, LogitsHook{a.scale, 0.0f}};
  const long long rows = static_cast<long long>(a.batch) * a.heads_q * a.len_q;
  const bool empty = a.batch == 0 || (a.len_q == 0 && a.len_k == 0);
  if (!empty) {
    if (const char* why = backward_grid_unfit_reason(c, naive, p)) {
      c->error = why;
      return AB_UNSUPPORTED;
    }
  }
  begin_call(c);
  // Workspace: D per row, then (flash, 16-bit storage) the fp32 dQ accumulator.
  const size_t delta_bytes = static_cast<size_t>(rows) * sizeof(float);
  const size_t acc_bytes = !naive && a.dtype != AB_F32 ? static_cast<size_t>(rows) * a.head_dim * sizeof(float) : 0;
  if (delta_bytes + acc_bytes > 0) {
    void* ws = nullptr;
    if (const ab_status s = scratch(c, delta_bytes + acc_bytes, &ws); s != AB_OK) return s;
    p.delta = static_cast<float*>(ws);
    p.dq_acc = acc_bytes ? p.delta + rows : reinterpret_cast<float*>(args->d_q);
  }
  // naive's P and dS live only for this call (they can be huge), allocated before the
  // start event.
  void* mats = nullptr;
  const size_t mat_bytes = naive_backward_workspace_bytes(a);
  if (naive && mat_bytes > 0) {
    const gpuError_t e = gpuMalloc(&mats, mat_bytes);
    if (e != gpuSuccess) {
      (void)gpuGetLastError();
      return fail(c, status_of(e), "allocating the " + std::to_string(mat_bytes) + "-byte P and dS matrices", e);
    }
    p.p = static_cast<float*>(mats);
    p.ds = p.p + mat_bytes / (2 * sizeof(float));
  }
  (void)gpuEventRecord(c->start, c->stream);
  for (int rep = 0; rep < kLaunchesPerSample && !empty; ++rep) {
    if (a.len_q == 0) {  // no queries: dK = dV = 0
      const size_t kv_bytes = ab_tensor_bytes(a.dtype, static_cast<size_t>(a.batch) * a.heads_kv * a.len_k, a.head_dim);
      (void)gpuMemsetAsync(args->d_k, 0, kv_bytes, c->stream);
      (void)gpuMemsetAsync(args->d_v, 0, kv_bytes, c->stream);
    } else if (a.dtype == AB_F32) {
      launch_backward<float>(c, naive, p, rows);
    } else if (a.dtype == AB_BF16) {
      launch_backward<Bf16>(c, naive, p, rows);
    } else {
      launch_backward<F16>(c, naive, p, rows);
    }
  }
  gpuError_t e = gpuGetLastError();
  (void)gpuEventRecord(c->stop, c->stream);
  if (e == gpuSuccess) e = gpuEventSynchronize(c->stop);
  if (mats) (void)gpuFree(mats);
  if (e != gpuSuccess) return fail(c, status_of(e), "running backward kernels", e);
  float ms = 0.0f;
  (void)gpuEventElapsedTime(&ms, c->start, c->stop);
  *seconds = ms * 1e-3 / kLaunchesPerSample;
  return AB_OK;
}

}  // namespace attnbench::gpu
