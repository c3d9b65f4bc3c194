// The compute half of the ab_plugin table: supports and run_attention (flash,
// decode, naive), launching the shared kernels on the context's stream and timing
// them with device events (kernels only: lengths are uploaded before the first event;
// kLaunchesPerSample back-to-back launches per sample, divided).
#pragma once

#include "capabilities.h"
#include <vector>

#include "decode_attention.cuh"
#include "mma_attention.cuh"
#include "naive_attention.cuh"
#include "peak_kernels.cuh"
#include "plugin_context.h"
#include "simt_attention.cuh"

namespace attnbench::gpu {

/// AB_OK if `variant` runs `a`; else AB_INVALID_ARGUMENT or AB_UNSUPPORTED with the
/// reason in last_error. Looks at shape and options only (buffers may be null).
inline ab_status supports(void* ctx, const char* variant, const ab_attention_args* a) {
  auto* c = static_cast<Context*>(ctx);
  if (const char* why = invalid_reason(*a)) {
    c->error = why;
    return AB_INVALID_ARGUMENT;
  }
  if (const char* why = unsupported_reason(variant, *a)) {
    c->error = why;
    return AB_UNSUPPORTED;
  }
  return AB_OK;
}

/// Launches of one call are repeated this many times back to back between the two
/// events, and *seconds is the total over this count (as nvbench's batch timing does):
/// the start event fires on an idle stream before the host has launched anything, so a
/// single launch would add the host launch latency of the first kernel (and the gaps
/// before decode's merge and naive's softmax and P V kernels) to the kernel time. Every
/// launch rewrites the same outputs from the same inputs, so the result is unchanged.
/// Kept small: a call takes this many times its kernel time.
constexpr int kLaunchesPerSample = 4;

/// Folded launch plan (GridFold) of an (nx, ny, nz) grid of `threads`-thread blocks
/// within this device's grid.x limit.
inline GridFold fold_for(const Context* c, int threads, int nx, int ny, int nz) {
  return fold_grid(nx, ny, nz, max_grid_x(threads, c->prop.maxGridSize[0]));
}
inline dim3 dims_of(const GridFold& g) {
  return dim3(static_cast<unsigned>(g.gx), static_cast<unsigned>(g.gy), 1);
}

/// Grids of the SIMT kernel and of the LSE merge (one block per output row).
inline GridFold simt_fold(const Context* c, const SimtParams& p) {
  const int tiles = ceil_div(p.pack * p.len_q, kSimtBlockM);
  return fold_for(c, kSimtWarps * c->prop.warpSize, tiles * p.plan.num_splits, p.heads_q / p.pack, p.batch);
}
constexpr int kMergeThreads = 128;
inline GridFold rows_fold(const Context* c, const SimtParams& p, int threads) {
  return fold_for(c, threads, p.len_q, p.heads_q, p.batch);
}
/// Grid of the decode kernel: (row tiles * splits, KV heads, batch).
inline GridFold decode_fold(const Context* c, const SimtParams& p) {
  return fold_for(c, kDecodeWarps * c->prop.warpSize, decode_row_tiles(p.pack, p.len_q) * p.plan.num_splits,
                  p.heads_q / p.pack, p.batch);
}
/// Grids of naive's S = QK^T and O = PV kernels (16x16 tiles, z = batch * heads_q).
inline GridFold naive_scores_fold(const Context* c, const SimtParams& p) {
  return fold_for(c, kNaiveTile * kNaiveTile, ceil_div(p.len_k, kNaiveTile), ceil_div(p.len_q, kNaiveTile),
                  p.batch * p.heads_q);
}
inline GridFold naive_pv_fold(const Context* c, const SimtParams& p) {
  return fold_for(c, kNaiveTile * kNaiveTile, ceil_div(p.head_dim, kNaiveTile), ceil_div(p.len_q, kNaiveTile),
                  p.batch * p.heads_q);
}

/// Merges split-K partials into O (nothing to do for a single split).
template <class T>
void launch_merge(const Context* c, const SimtParams& p) {
  if (!p.part_o) return;
  const GridFold m = rows_fold(c, p, kMergeThreads);
  lse_merge_kernel<T><<<dims_of(m), kMergeThreads, 0, c->stream>>>(p, m);
}

/// Launches the SIMT kernel for storage type T over the KV addressing `kv`.
template <class T, class Kv>
void launch_simt(const Context* c, const SimtParams& p, const Kv& kv) {
  const GridFold g = simt_fold(c, p);
  const dim3 block(kSimtWarps * c->prop.warpSize);
  if (simt_dmax(p.head_dim) == 64)
    simt_attention_kernel<T, 64, Kv><<<dims_of(g), block, 0, c->stream>>>(p, kv, g);
  else
    simt_attention_kernel<T, 128, Kv><<<dims_of(g), block, 0, c->stream>>>(p, kv, g);
  launch_merge<T>(c, p);
}

/// Launches the decode kernel (decode_attention.cuh) and the merge of its splits.
template <class T, class Kv>
void launch_decode(const Context* c, const SimtParams& p, const Kv& kv) {
  const GridFold g = decode_fold(c, p);
  const dim3 block(kDecodeWarps * c->prop.warpSize);
  if (simt_dmax(p.head_dim) == 64)
    decode_attention_kernel<T, 64, Kv><<<dims_of(g), block, 0, c->stream>>>(p, kv, g);
  else
    decode_attention_kernel<T, 128, Kv><<<dims_of(g), block, 0, c->stream>>>(p, kv, g);
  launch_merge<T>(c, p);
}

/// Which kernels a variant name selects.
enum class Kind { kFlash, kDecode, kNaive };

inline Kind kind_of(const char* variant) {
  if (strcmp(variant, "decode") == 0) return Kind::kDecode;
  return strcmp(variant, "naive") == 0 ? Kind::kNaive : Kind::kFlash;
}

/// Launches the three unfused kernels of `naive` over the score buffer s.
template <class T>
void launch_naive(const Context* c, const SimtParams& p, void* s) {
  const dim3 tile(kNaiveTile, kNaiveTile);
  T* scores = static_cast<T*>(s);
  if (p.len_k > 0) {  // no keys: P is empty and O = 0 comes from the PV kernel alone
    const GridFold gs = naive_scores_fold(c, p), gm = rows_fold(c, p, kNaiveSoftmaxThreads);
    naive_scores_kernel<T><<<dims_of(gs), tile, 0, c->stream>>>(p, scores, gs);
    naive_softmax_kernel<T><<<dims_of(gm), kNaiveSoftmaxThreads, 0, c->stream>>>(p, scores, gm);
  }
  const GridFold gv = naive_pv_fold(c, p);
  naive_pv_kernel<T><<<dims_of(gv), tile, 0, c->stream>>>(p, scores, gv);
}

/// Whether flash takes the tensor-core kernel on this context (which also needs its
/// dynamic shared memory: 96 KB at d = 128, within every sm_80+ device's opt-in limit).
inline bool takes_mma(const Context* c, const ab_attention_args& a) {
#if defined(AB_GPU_CUDA)
  return !c->force_simt && use_tensor_cores(true, c->prop.major, a.dtype, a.head_dim) &&
         c->prop.sharedMemPerBlockOptin >= static_cast<size_t>(MmaSmem{a.head_dim}.bytes());
#else
  (void)c;
  (void)a;
  return false;
#endif
}

#if defined(AB_GPU_CUDA)
inline GridFold mma_fold(const Context* c, const SimtParams& p) {
  return fold_for(c, kMmaThreads, ceil_div(p.len_q, kMmaBlockM), p.heads_q, p.batch);
}

/// Raises the MMA kernel's dynamic shared-memory limit to what it uses (above the default
/// 48 KB at d = 128). Called before the start event, so it is not timed.
template <class T>
gpuError_t allow_mma_smem(int head_dim) {
  const int bytes = MmaSmem{head_dim}.bytes();
  if (head_dim == 64)
    return cudaFuncSetAttribute(mma_flash_kernel<T, 64>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  return cudaFuncSetAttribute(mma_flash_kernel<T, 128>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
#endif

/// Null if every grid this call launches fits the device's limits after folding, else
/// why not (AB_UNSUPPORTED). Folding leaves grid.y at most 65535 rows of up to 2^31 - 1
/// blocks (fewer on HIP), so this only trips on absurd sizes.
inline const char* grid_unfit_reason(const Context* c, Kind kind, const ab_attention_args& a, const SimtParams& p) {
  if (a.batch == 0 || a.len_q == 0) return nullptr;  // nothing is launched
  if (static_cast<long long>(a.batch) * a.heads_q > 0x7fffffffLL) return "batch * heads_q exceeds 2^31 - 1";
  const char* why = "the launch grid exceeds the device's limits even folded into grid.x and grid.y";
  if (kind == Kind::kNaive) {
    if (!naive_pv_fold(c, p).fits() || !rows_fold(c, p, kNaiveSoftmaxThreads).fits()) return why;
    return p.len_k > 0 && !naive_scores_fold(c, p).fits() ? why : nullptr;
  }
#if defined(AB_GPU_CUDA)
  if (kind == Kind::kFlash && takes_mma(c, a)) return mma_fold(c, p).fits() ? nullptr : why;
#endif
  if (kind == Kind::kDecode && use_decode_kernel(a, c->force_simt)) {
    if (!decode_fold(c, p).fits()) return why;
  } else if (!simt_fold(c, p).fits()) {
    return why;
  }
  return p.part_o && !rows_fold(c, p, kMergeThreads).fits() ? why : nullptr;
}

/// Launches the kernels of one call for storage type T (no timing, no sync).
template <class T>
void launch(const Context* c, Kind kind, const ab_attention_args& a, const SimtParams& p, void* scores) {
  if (kind == Kind::kNaive) {
    launch_naive<T>(c, p, scores);
  } else if (kind == Kind::kFlash) {
#if defined(AB_GPU_CUDA)
    if (takes_mma(c, a)) {
      if constexpr (!std::is_same_v<T, float>) {
        const GridFold g = mma_fold(c, p);
        const int smem = MmaSmem{a.head_dim}.bytes();  // allowed by allow_mma_smem
        if (a.head_dim == 64)
          mma_flash_kernel<T, 64><<<dims_of(g), kMmaThreads, smem, c->stream>>>(p, g);
        else
          mma_flash_kernel<T, 128><<<dims_of(g), kMmaThreads, smem, c->stream>>>(p, g);
        return;
      }
    }
#endif
    launch_simt<T>(c, p, ContiguousKv{a.heads_kv, a.len_k, a.head_dim});
  } else if (a.page_size > 0) {
    const PagedKv kv{a.heads_kv, a.page_size, a.head_dim, a.max_pages_per_seq,
                     reinterpret_cast<const int32_t*>(a.block_table), a.kv_layout};
    if (use_decode_kernel(a, c->force_simt))
      launch_decode<T>(c, p, kv);
    else
      launch_simt<T>(c, p, kv);
  } else {
    const ContiguousKv kv{a.heads_kv, a.len_k, a.head_dim};
    if (use_decode_kernel(a, c->force_simt))
      launch_decode<T>(c, p, kv);
    else
      launch_simt<T>(c, p, kv);
  }
}

/// Uploads varlen lengths, plans decode splits and sizes the workspace. Fills p.
inline ab_status prepare(Context* c, Kind kind, const ab_attention_args& a, SimtParams& p) {
  p = SimtParams{a.q, a.k, a.v, a.o, nullptr, nullptr, nullptr, nullptr, a.batch, a.heads_q,
                 a.heads_kv, a.len_q, a.len_k, a.head_dim, 1,
                 MaskHook{a.causal, a.window_left, a.window_right}, LogitsHook{a.scale, a.softcap},
                 SplitPlan{1, a.len_k}};
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  if (kind == Kind::kDecode) {
    p.pack = a.heads_q / a.heads_kv;  // one block per GQA group: each KV tile is read once
    if (use_decode_kernel(a, c->force_simt))
      p.plan = plan_decode_splits(a.len_k, a.batch, a.heads_kv, p.pack, a.len_q, c->prop.multiProcessorCount);
    else
      p.plan = plan_splits(a.len_k, a.batch * a.heads_kv * ceil_div(p.pack * a.len_q, kSimtBlockM),
                           c->prop.multiProcessorCount, kSimtKeys, kMinKeysPerSplit, kMaxSplits);
  }
  const size_t lens_bytes = (a.seq_len_q || a.seq_len_k) ? 2 * a.batch * sizeof(int32_t) : 0;
  const size_t part_bytes = p.plan.num_splits > 1 ? p.plan.num_splits * rows * (a.head_dim + 1) * sizeof(float) : 0;
  if (lens_bytes + part_bytes == 0) return AB_OK;
  void* ws = nullptr;
  if (const ab_status s = scratch(c, lens_bytes + part_bytes, &ws); s != AB_OK) return s;
  auto* lens = static_cast<int32_t*>(ws);
  if (lens_bytes) {
    // Missing side defaults to the padded length so the kernels need one convention.
    std::vector<int32_t> host(2 * static_cast<size_t>(a.batch));
    for (int b = 0; b < a.batch; ++b) {
      host[b] = a.seq_len_q ? a.seq_len_q[b] : a.len_q;
      host[a.batch + b] = a.seq_len_k ? a.seq_len_k[b] : a.len_k;
    }
    const gpuError_t e = gpuMemcpy(lens, host.data(), lens_bytes, gpuMemcpyHostToDevice);
    if (e != gpuSuccess) return fail(c, status_of(e), "uploading lengths", e);
    p.seq_len_q = lens;
    p.seq_len_k = lens + a.batch;
  }
  if (part_bytes) {
    // lens_bytes is a multiple of 8, so the partials stay float-aligned.
    p.part_o = reinterpret_cast<float*>(static_cast<char*>(ws) + lens_bytes);
    p.part_lse = p.part_o + p.plan.num_splits * rows * a.head_dim;
  }
  return AB_OK;
}

/// Runs one call and returns its kernel time (device events) in seconds: the time of
/// kLaunchesPerSample back-to-back launches divided by that count.
inline ab_status run_attention(void* ctx, const char* variant, const ab_attention_args* args,
                               double* seconds) {
  auto* c = static_cast<Context*>(ctx);
  const ab_attention_args& a = *args;
  if (const ab_status s = supports(ctx, variant, args); s != AB_OK) return s;
  const Kind kind = kind_of(variant);
  if (a.page_size > 0 && !a.block_table) {
    c->error = "paged KV without a block table";
    return AB_INVALID_ARGUMENT;
  }
  begin_call(c);
  SimtParams p;
  if (const ab_status s = prepare(c, kind, a, p); s != AB_OK) return s;
  if (const char* why = grid_unfit_reason(c, kind, a, p)) {
    c->error = why;
    return AB_UNSUPPORTED;
  }
  // naive's score matrix lives only for this call: it can be huge, and keeping it
  // would starve later cases of memory. Allocated before the start event.
  void* scores = nullptr;
  if (kind == Kind::kNaive && naive_workspace_bytes(a) > 0) {
    const gpuError_t e = gpuMalloc(&scores, naive_workspace_bytes(a));
    if (e != gpuSuccess) {
      (void)gpuGetLastError();
      return fail(c, status_of(e), "allocating the " + std::to_string(naive_workspace_bytes(a)) +
                  "-byte score matrix", e);
    }
  }
#if defined(AB_GPU_CUDA)
  if (kind == Kind::kFlash && a.dtype != AB_F32 && takes_mma(c, a)) {
    const gpuError_t e = a.dtype == AB_BF16 ? allow_mma_smem<Bf16>(a.head_dim) : allow_mma_smem<F16>(a.head_dim);
    if (e != gpuSuccess) return fail(c, status_of(e), "setting the MMA kernel's shared-memory limit", e);
  }
#endif
  (void)gpuEventRecord(c->start, c->stream);
  for (int rep = 0; rep < kLaunchesPerSample; ++rep) {
    if (a.batch == 0 || a.len_q == 0) {
      // Nothing to compute (an empty grid is a launch error): time the empty interval.
    } else if (a.dtype == AB_F32) {
      launch<float>(c, kind, a, p, scores);
    } else if (a.dtype == AB_BF16) {
      launch<Bf16>(c, kind, a, p, scores);
    } else {
      launch<F16>(c, kind, a, p, scores);
    }
  }
  gpuError_t e = gpuGetLastError();
  (void)gpuEventRecord(c->stop, c->stream);
  if (e == gpuSuccess) e = gpuEventSynchronize(c->stop);
  if (scores) (void)gpuFree(scores);
  if (e != gpuSuccess) return fail(c, status_of(e), "running kernels", e);
  float ms = 0.0f;
  (void)gpuEventElapsedTime(&ms, c->start, c->stop);
  *seconds = ms * 1e-3 / kLaunchesPerSample;
  return AB_OK;
}

}  // namespace attnbench::gpu
