// The KV primitives of the ab_plugin table (ab_kv_ops) for the CUDA and HIP plugins:
// validate (kv_validate.h, shared with the CPU emulation), copy the host-side arrays
// into the context's scratch, then launch the shared kernels between two device events
// on the context's stream, so *seconds is kernel time only, as for run_attention.
#pragma once

#include <algorithm>
#include <vector>

#include "kv_kernels.cuh"
#include "kv_validate.h"
#include "plugin_context.h"

namespace attnbench::gpu {

/// Carves 256-byte aligned pieces out of one scratch allocation.
struct ScratchLayout {
  size_t bytes = 0;
  /// Reserves n bytes and returns their offset.
  size_t add(size_t n) {
    const size_t at = bytes;
    bytes += (n + 255) & ~static_cast<size_t>(255);
    return at;
  }
};

/// A call's scratch: host arrays uploaded into it before timing starts.
class KvScratch {
 public:
  explicit KvScratch(Context* c) : c_(c) {}
  /// Reserves space for n bytes (call all before commit()).
  size_t reserve(size_t n) { return layout_.add(n); }
  /// Allocates (grows) the context's scratch for every reservation.
  ab_status commit() {
    if (layout_.bytes == 0) return AB_OK;
    return scratch(c_, layout_.bytes, &base_);
  }
  template <class T> T* at(size_t off) const { return reinterpret_cast<T*>(static_cast<char*>(base_) + off); }
  /// Copies n bytes of host data to offset off (null src: nothing).
  ab_status put(size_t off, const void* src, size_t n) {
    if (!src || n == 0) return AB_OK;
    const gpuError_t e = gpuMemcpy(at<char>(off), src, n, gpuMemcpyHostToDevice);
    return e == gpuSuccess ? AB_OK : fail(c_, status_of(e), "uploading KV arguments", e);
  }

 private:
  Context* c_;
  ScratchLayout layout_;
  void* base_ = nullptr;
};

/// Device-event timing of the launches between begin() and end().
struct KvTimer {
  Context* c;
  void begin() const { (void)gpuEventRecord(c->start, c->stream); }
  /// Stops the clock, waits, and returns the status of the launched kernels.
  ab_status end(double* seconds) const {
    gpuError_t e = gpuGetLastError();
    (void)gpuEventRecord(c->stop, c->stream);
    if (e == gpuSuccess) e = gpuEventSynchronize(c->stop);
    if (e != gpuSuccess) return fail(c, status_of(e), "running KV kernels", e);
    float ms = 0.0f;
    (void)gpuEventElapsedTime(&ms, c->start, c->stop);
    if (seconds) *seconds = ms * 1e-3;
    return AB_OK;
  }
};

/// Launches a work item over its whole index range on the context's stream.
template <class F>
void launch_each(const Context* c, const F& f) {
  if (f.size() > 0) kv::for_each_kernel<F><<<kv::for_each_blocks(f.size()), kv::kForEachThreads, 0, c->stream>>>(f);
}

/// Common prologue: a context, and valid arguments (why = the validator's answer).
inline ab_status kv_begin(void* ctx, const std::string& why) {
  if (!ctx) {  // no context means create() failed: no device was opened
    create_error() = "KV primitive called without a device context (no " AB_GPU_RUNTIME_NAME " device)";
    return AB_NO_DEVICE;
  }
  auto* c = static_cast<Context*>(ctx);
  if (!why.empty()) {
    c->error = why;
    return AB_INVALID_ARGUMENT;
  }
  begin_call(c);
  return AB_OK;
}

inline ab_status kv_observation_scores(void* ctx, const ab_kv_score_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_score_args(*args) : std::string("observation_scores: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_score_args& a = *args;
  kv::ScoreParams p{a.heads_q, a.heads_kv, a.len_k, a.head_dim, a.q_rows, a.row0, a.n_obs, a.keys_stride,
                    a.pool, a.pool_end, a.row_reduce, a.group_reduce, a.scale,
                    reinterpret_cast<const float*>(a.k), reinterpret_cast<const float*>(a.q),
                    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, reinterpret_cast<float*>(a.scores)};
  const size_t nobs = static_cast<size_t>(a.n_obs), nkeys = a.keys ? static_cast<size_t>(a.heads_kv) * a.keys_stride : 0;
  KvScratch ws(c);
  const size_t o_pos = ws.reserve(a.q_pos ? nobs * 4 : 0), o_w = ws.reserve(a.q_weight ? nobs * 4 : 0);
  const size_t o_keys = ws.reserve(nkeys * 4), o_cnt = ws.reserve(a.keys ? a.heads_kv * 4 : 0);
  const size_t o_lse = ws.reserve(static_cast<size_t>(a.heads_q) * nobs * 4);
  const size_t o_raw = ws.reserve(a.pool > 1 ? static_cast<size_t>(a.heads_kv) * p.n_out() * 4 : 0);
  if (const ab_status s = ws.commit(); s != AB_OK) return s;
  ab_status up = ws.put(o_pos, a.q_pos, a.q_pos ? nobs * 4 : 0);
  if (up == AB_OK) up = ws.put(o_w, a.q_weight, a.q_weight ? nobs * 4 : 0);
  if (up == AB_OK && a.keys) up = ws.put(o_keys, a.keys, nkeys * 4);
  if (up == AB_OK && a.keys) up = ws.put(o_cnt, a.key_count, a.heads_kv * size_t{4});
  if (up != AB_OK) return up;
  if (a.q_pos) p.q_pos = ws.at<int32_t>(o_pos);
  if (a.q_weight) p.q_weight = ws.at<float>(o_w);
  if (a.keys) p.keys = ws.at<int32_t>(o_keys), p.key_count = ws.at<int32_t>(o_cnt);
  p.lse = ws.at<float>(o_lse);
  p.raw = a.pool > 1 ? ws.at<float>(o_raw) : p.out;
  const KvTimer timer{c};
  timer.begin();
  launch_each(c, kv::ScoreRowLse{p});
  launch_each(c, kv::ScoreSlot{p});
  if (a.pool > 1) launch_each(c, kv::ScorePool{p});
  return timer.end(seconds);
}

inline ab_status kv_statistics(void* ctx, const ab_kv_stat_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_stat_args(*args) : std::string("statistics: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_stat_args& a = *args;
  const kv::StatParams p{a.heads_q, a.heads_kv, a.len_k, a.head_dim, a.q_rows, a.row0, a.n_obs, a.scale,
                         reinterpret_cast<const float*>(a.k), reinterpret_cast<const float*>(a.q),
                         reinterpret_cast<const float*>(a.aux), reinterpret_cast<float*>(a.out)};
  const KvTimer timer{c};
  timer.begin();
  switch (a.stat) {
    case AB_KV_KEY_L2NORM: launch_each(c, kv::StatKeyNorm{p}); break;
    case AB_KV_KEY_CHANNEL_ABSMEAN: launch_each(c, kv::StatChannelAbsMean{p}); break;
    case AB_KV_QUERY_MEAN_COV:
      launch_each(c, kv::StatQueryMean{p});
      launch_each(c, kv::StatQueryCov{p});  // same stream: reads the means just written
      break;
    case AB_KV_EXPECTED_LOGIT: launch_each(c, kv::StatExpectedLogit{p}); break;
  }
  return timer.end(seconds);
}

inline ab_status kv_topk(void* ctx, const ab_kv_topk_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_topk_args(*args) : std::string("topk: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_topk_args& a = *args;
  const kv::TopkParams p{a.rows, a.n, a.k, a.force_head, a.force_tail, reinterpret_cast<const float*>(a.scores),
                         reinterpret_cast<int32_t*>(a.out)};
  const KvTimer timer{c};
  timer.begin();
  kv::topk_kernel<<<a.rows, kv::kTopkThreads, 0, c->stream>>>(p);
  return timer.end(seconds);
}

inline ab_status kv_dot(void* ctx, const ab_kv_dot_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_dot_args(*args) : std::string("dot: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_dot_args& a = *args;
  const kv::DotElem f{a.batch, a.m, a.n, a.dim, reinterpret_cast<const float*>(a.a),
                      reinterpret_cast<const float*>(a.b), reinterpret_cast<float*>(a.out)};
  const KvTimer timer{c};
  timer.begin();
  launch_each(c, f);
  return timer.end(seconds);
}

inline ab_status kv_compact(void* ctx, const ab_kv_compact_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_compact_args(*args) : std::string("compact: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_compact_args& a = *args;
  const size_t slots = static_cast<size_t>(a.heads_kv) * a.kept_stride, hd = static_cast<size_t>(a.heads_kv) * a.head_dim;
  bool comp = false;  // any compensation slot: only then are the means computed
  for (int j = 0; j < a.heads_kv; ++j)
    comp |= a.kept_count[j] > 0 && a.kept[static_cast<size_t>(j) * a.kept_stride + a.kept_count[j] - 1] == -1;
  KvScratch ws(c);
  const size_t o_kept = ws.reserve(slots * 4), o_cnt = ws.reserve(a.heads_kv * size_t{4});
  const size_t o_mask = ws.reserve(a.key_channel_mask ? hd : 0);
  const size_t o_flags = ws.reserve(comp ? static_cast<size_t>(a.heads_kv) * a.len_k : 0);
  const size_t o_mean = ws.reserve(comp ? 2 * hd * 4 : 0);
  if (const ab_status s = ws.commit(); s != AB_OK) return s;
  if (const ab_status s = ws.put(o_kept, a.kept, slots * 4); s != AB_OK) return s;
  if (const ab_status s = ws.put(o_cnt, a.kept_count, a.heads_kv * size_t{4}); s != AB_OK) return s;
  if (const ab_status s = ws.put(o_mask, a.key_channel_mask, a.key_channel_mask ? hd : 0); s != AB_OK) return s;
  const kv::CompactParams p{a.heads_kv, a.len_k, a.head_dim, a.kept_stride,
                            reinterpret_cast<const float*>(a.k), reinterpret_cast<const float*>(a.v),
                            ws.at<int32_t>(o_kept), ws.at<int32_t>(o_cnt),
                            a.key_channel_mask ? ws.at<uint8_t>(o_mask) : nullptr,
                            comp ? ws.at<uint8_t>(o_flags) : nullptr,
                            comp ? ws.at<float>(o_mean) : nullptr, comp ? ws.at<float>(o_mean) + hd : nullptr,
                            reinterpret_cast<float*>(a.k_out), reinterpret_cast<float*>(a.v_out)};
  const KvTimer timer{c};
  timer.begin();
  if (comp) {
    (void)gpuMemsetAsync(p.flags, 0, static_cast<size_t>(a.heads_kv) * a.len_k, c->stream);
    launch_each(c, kv::CompactFlag{p});
    launch_each(c, kv::CompactMean{p});
  }
  launch_each(c, kv::CompactGather{p});
  return timer.end(seconds);
}

inline ab_status kv_quant_bytes(void* ctx, const ab_kv_quant_args* args, size_t* bytes) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_quant_args(*args, false) : std::string("quant_bytes: no arguments")); s != AB_OK) return s;
  const ab_kv_quant_args& a = *args;
  *bytes = static_cast<size_t>(kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, nullptr));
  return AB_OK;
}

inline ab_status kv_quantize(void* ctx, const ab_kv_quant_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_quant_args(*args, true) : std::string("quantize: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_quant_args& a = *args;
  std::vector<kv::QuantHead> heads(a.heads_kv);
  (void)kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, heads.data());
  // The per-head records go to the front of the cache (it describes itself to decode).
  const gpuError_t e = gpuMemcpy(a.out, heads.data(), heads.size() * sizeof(kv::QuantHead), gpuMemcpyHostToDevice);
  if (e != gpuSuccess) return fail(c, status_of(e), "writing the quantised cache header", e);
  int64_t groups[2] = {0, 0}, bytes[2] = {0, 0}, resid = 0;
  for (const kv::QuantHead& h : heads) {
    for (int w = 0; w < 2; ++w) {
      groups[w] = std::max(groups[w], kv::quant_groups(h.t[w], h.nq, h.head_dim));
      bytes[w] = std::max(bytes[w], (static_cast<int64_t>(h.nq) * h.head_dim * h.t[w].bits + 7) / 8 + 1);
    }
    resid = std::max(resid, static_cast<int64_t>(h.len - h.nq) * h.head_dim);
  }
  auto params = [&](int which, int64_t per_head) {
    return kv::QuantParams{a.heads_kv, a.len_k, a.head_dim, which, per_head,
                           reinterpret_cast<const kv::QuantHead*>(a.out), reinterpret_cast<const float*>(a.k),
                           reinterpret_cast<const float*>(a.v), reinterpret_cast<uint8_t*>(a.out)};
  };
  const KvTimer timer{c};
  timer.begin();
  for (int w = 0; w < 2; ++w) {
    launch_each(c, kv::QuantGroupPass{params(w, groups[w])});
    launch_each(c, kv::QuantPackPass{params(w, bytes[w])});  // reads the scales just written
    launch_each(c, kv::QuantResidualPass{params(w, resid)});
  }
  return timer.end(seconds);
}

inline ab_status kv_quant_decode(void* ctx, const ab_kv_quant_decode_args* args, double* seconds) {
  if (const ab_status s = kv_begin(ctx, args ? kv::invalid_quant_decode_args(*args) : std::string("quant_decode: no arguments")); s != AB_OK) return s;
  auto* c = static_cast<Context*>(ctx);
  const ab_kv_quant_decode_args& a = *args;
  if (const std::string why = kv::unsupported_quant_decode(a); !why.empty()) {
    c->error = why;
    return AB_UNSUPPORTED;
  }
  // The cache must be the one this shape and spec produce: compare its header.
  std::vector<kv::QuantHead> want(a.heads_kv), have(a.heads_kv);
  (void)kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, want.data());
  const size_t hbytes = want.size() * sizeof(kv::QuantHead);
  const gpuError_t e = gpuMemcpy(have.data(), a.cache, hbytes, gpuMemcpyDeviceToHost);
  if (e != gpuSuccess) return fail(c, status_of(e), "reading the quantised cache header", e);
  if (memcmp(want.data(), have.data(), hbytes) != 0) {
    c->error = kv::foreign_cache_message();
    return AB_INVALID_ARGUMENT;
  }
  const kv::QuantDecodeParams p{a.heads_q, a.heads_kv, a.n_q, a.head_dim, a.scale,
                                reinterpret_cast<const uint8_t*>(a.cache), reinterpret_cast<const float*>(a.q),
                                reinterpret_cast<float*>(a.o)};
  const KvTimer timer{c};
  timer.begin();
  kv::quant_decode_kernel<<<a.heads_q * a.n_q, kv::kQuantTile, 0, c->stream>>>(p);
  return timer.end(seconds);
}

/// The ab_kv_ops table of the GPU plugins.
inline const ab_kv_ops* kv_ops() {
  static const ab_kv_ops ops = {
      static_cast<uint32_t>(sizeof(ab_kv_ops)), &kv_observation_scores, &kv_statistics, &kv_topk, &kv_dot,
      &kv_compact, &kv_quant_bytes, &kv_quantize, &kv_quant_decode,
  };
  return &ops;
}

}  // namespace attnbench::gpu
