// Argument checks of the KV primitives for the GPU plugins (plugin_kv.h) and their CPU
// emulation (kv_emulation.cpp): one function per argument struct, empty string = valid,
// else "<primitive>: <field and value>" for AB_INVALID_ARGUMENT. The rules and messages
// are the CPU backend's (backends/cpu/kv_primitives/kv_validate.cpp), so a call is
// refused alike on every backend; tests compare the messages. Host code, C++17: the host
// index arrays (keys, kept, ...) are read here, before anything reaches a device.
#pragma once

#include <math.h>

#include <numeric>
#include <string>

#include "attnbench/plugin_abi.h"
#include "kv_quant.h"

namespace attnbench::gpu::kv {
namespace check {

inline std::string bad(const char* prim, const std::string& msg) { return std::string(prim) + ": " + msg; }
inline std::string num(int64_t v) { return std::to_string(v); }

inline std::string heads(const char* p, int32_t hq, int32_t hkv) {
  if (hkv < 1) return bad(p, "heads_kv must be >= 1 (got " + num(hkv) + ")");
  if (hq < 1) return bad(p, "heads_q must be >= 1 (got " + num(hq) + ")");
  if (hq % hkv) return bad(p, "heads_q (" + num(hq) + ") must be a multiple of heads_kv (" + num(hkv) + ")");
  return {};
}
inline std::string positive(const char* p, const char* field, int64_t v) {
  return v < 1 ? bad(p, std::string(field) + " must be >= 1 (got " + num(v) + ")") : std::string();
}
inline std::string buffer(const char* p, const char* field, const void* b) {
  return b ? std::string() : bad(p, std::string(field) + " is NULL");
}
inline std::string reduce(const char* p, const char* field, ab_kv_reduce r) {
  if (r != AB_KV_SUM && r != AB_KV_MAX) return bad(p, std::string(field) + " must be AB_KV_SUM or AB_KV_MAX (got " + num(r) + ")");
  return {};
}
inline std::string obs_rows(const char* p, int32_t q_rows, int32_t row0, int32_t n_obs) {
  if (auto e = positive(p, "q_rows", q_rows); !e.empty()) return e;
  if (auto e = positive(p, "n_obs", n_obs); !e.empty()) return e;
  if (row0 < 0 || static_cast<int64_t>(row0) + n_obs > q_rows)
    return bad(p, "observation rows [" + num(row0) + ", " + num(static_cast<int64_t>(row0) + n_obs) +
                      ") are not within q_rows = " + num(q_rows));
  return {};
}
inline std::string quant_spec(const char* p, const ab_kv_quant_spec& s) {
  for (int which = 0; which < 2; ++which) {
    const char* name = which ? "value" : "key";
    const int32_t bits = which ? s.value_bits : s.key_bits, group = which ? s.value_group : s.key_group;
    const ab_kv_quant_axis axis = which ? s.value_axis : s.key_axis;
    if (bits < 1 || bits > 8) return bad(p, std::string(name) + "_bits must be in 1..8 (got " + num(bits) + ")");
    if (s.symmetric && bits < 2)
      return bad(p, std::string(name) + "_bits must be >= 2 for symmetric codes (1 bit has no level but 0)");
    if (axis != AB_KV_PER_TOKEN && axis != AB_KV_PER_CHANNEL)
      return bad(p, std::string(name) + "_axis must be AB_KV_PER_TOKEN or AB_KV_PER_CHANNEL (got " + num(axis) + ")");
    if (group < 0) return bad(p, std::string(name) + "_group must be >= 0 (got " + num(group) + ")");
    if (axis == AB_KV_PER_CHANNEL && group < 1)
      return bad(p, std::string(name) + "_group must be >= 1 tokens for per-channel groups (got " + num(group) + ")");
  }
  if (s.symmetric != 0 && s.symmetric != 1) return bad(p, "symmetric must be 0 or 1 (got " + num(s.symmetric) + ")");
  if (s.residual < 0) return bad(p, "residual must be >= 0 (got " + num(s.residual) + ")");
  if (s.key_axis == AB_KV_PER_CHANNEL && s.value_axis == AB_KV_PER_CHANNEL &&
      std::lcm(static_cast<int64_t>(s.key_group), static_cast<int64_t>(s.value_group)) > (int64_t(1) << 30))
    return bad(p, "key_group and value_group have too large a common multiple");
  return {};
}
inline std::string lengths(const char* p, const int32_t* len_per_head, int32_t heads_kv, int32_t len_k) {
  for (int32_t j = 0; len_per_head && j < heads_kv; ++j)
    if (len_per_head[j] < 0 || len_per_head[j] > len_k)
      return bad(p, "len_per_head[" + num(j) + "] = " + num(len_per_head[j]) + " is not in [0, len_k = " + num(len_k) + "]");
  return {};
}

}  // namespace check

#define AB_KV_TRY(expr) \
  if (std::string e_ = (expr); !e_.empty()) return e_

/// ab_kv_score_args.
inline std::string invalid_score_args(const ab_kv_score_args& a) {
  using namespace check;
  const char* P = "observation_scores";
  AB_KV_TRY(heads(P, a.heads_q, a.heads_kv));
  AB_KV_TRY(positive(P, "len_k", a.len_k));
  AB_KV_TRY(positive(P, "head_dim", a.head_dim));
  AB_KV_TRY(obs_rows(P, a.q_rows, a.row0, a.n_obs));
  AB_KV_TRY(buffer(P, "k", a.k));
  AB_KV_TRY(buffer(P, "q", a.q));
  AB_KV_TRY(buffer(P, "scores", a.scores));
  AB_KV_TRY(reduce(P, "row_reduce", a.row_reduce));
  AB_KV_TRY(reduce(P, "group_reduce", a.group_reduce));
  if (a.pool < 1 || a.pool % 2 == 0) return bad(P, "pool must be an odd width >= 1 (got " + num(a.pool) + ")");
  if (!isfinite(a.scale)) return bad(P, "scale must be finite");
  const int32_t n_out = a.keys ? a.keys_stride : a.len_k;
  if (a.keys) {
    if (!a.key_count) return bad(P, "keys is given but key_count is NULL");
    if (a.keys_stride < 1) return bad(P, "keys_stride must be >= 1 with keys (got " + num(a.keys_stride) + ")");
    for (int32_t j = 0; j < a.heads_kv; ++j) {
      const int32_t n = a.key_count[j];
      if (n < 0 || n > a.keys_stride)
        return bad(P, "key_count[" + num(j) + "] = " + num(n) + " is not in [0, keys_stride = " + num(a.keys_stride) + "]");
      const int32_t* p = a.keys + static_cast<size_t>(j) * a.keys_stride;
      for (int32_t i = 0; i < n; ++i) {
        if (p[i] < 0 || p[i] >= a.len_k)
          return bad(P, "keys[" + num(j) + "][" + num(i) + "] = " + num(p[i]) + " is not a key position in [0, " + num(a.len_k) + ")");
        if (i && p[i] <= p[i - 1]) return bad(P, "keys of head " + num(j) + " are not strictly ascending at slot " + num(i));
      }
    }
  }
  if (a.pool_end < 0 || a.pool_end > n_out)
    return bad(P, "pool_end must be in [0, " + num(n_out) + "] (got " + num(a.pool_end) + ")");
  return {};
}

/// ab_kv_stat_args.
inline std::string invalid_stat_args(const ab_kv_stat_args& a) {
  using namespace check;
  const char* P = "statistics";
  switch (a.stat) {
    case AB_KV_KEY_L2NORM:
    case AB_KV_KEY_CHANNEL_ABSMEAN:
      AB_KV_TRY(positive(P, "heads_kv", a.heads_kv));
      AB_KV_TRY(positive(P, "len_k", a.len_k));
      AB_KV_TRY(positive(P, "head_dim", a.head_dim));
      AB_KV_TRY(buffer(P, "k", a.k));
      break;
    case AB_KV_QUERY_MEAN_COV:
      AB_KV_TRY(positive(P, "heads_q", a.heads_q));
      AB_KV_TRY(positive(P, "head_dim", a.head_dim));
      AB_KV_TRY(obs_rows(P, a.q_rows, a.row0, a.n_obs));
      AB_KV_TRY(buffer(P, "q", a.q));
      break;
    case AB_KV_EXPECTED_LOGIT:
      AB_KV_TRY(heads(P, a.heads_q, a.heads_kv));
      AB_KV_TRY(positive(P, "len_k", a.len_k));
      AB_KV_TRY(positive(P, "head_dim", a.head_dim));
      AB_KV_TRY(buffer(P, "k", a.k));
      AB_KV_TRY(buffer(P, "aux (the QUERY_MEAN_COV output)", a.aux));
      if (!isfinite(a.scale)) return bad(P, "scale must be finite");
      break;
    default:
      return bad(P, "unknown stat " + num(a.stat));
  }
  AB_KV_TRY(buffer(P, "out", a.out));
  return {};
}

/// ab_kv_topk_args.
inline std::string invalid_topk_args(const ab_kv_topk_args& a) {
  using namespace check;
  const char* P = "topk";
  AB_KV_TRY(positive(P, "rows", a.rows));
  AB_KV_TRY(positive(P, "n", a.n));
  if (a.k < 1 || a.k > a.n) return bad(P, "k must be in [1, n = " + num(a.n) + "] (got " + num(a.k) + ")");
  if (a.force_head < 0 || a.force_tail < 0)
    return bad(P, "force_head and force_tail must be >= 0 (got " + num(a.force_head) + ", " + num(a.force_tail) + ")");
  if (static_cast<int64_t>(a.force_head) + a.force_tail > a.k)
    return bad(P, "force_head + force_tail (" + num(static_cast<int64_t>(a.force_head) + a.force_tail) + ") exceeds k (" + num(a.k) + ")");
  AB_KV_TRY(buffer(P, "scores", a.scores));
  AB_KV_TRY(buffer(P, "out", a.out));
  return {};
}

/// ab_kv_dot_args.
inline std::string invalid_dot_args(const ab_kv_dot_args& a) {
  using namespace check;
  const char* P = "dot";
  AB_KV_TRY(positive(P, "batch", a.batch));
  AB_KV_TRY(positive(P, "m", a.m));
  AB_KV_TRY(positive(P, "n", a.n));
  AB_KV_TRY(positive(P, "dim", a.dim));
  AB_KV_TRY(buffer(P, "a", a.a));
  AB_KV_TRY(buffer(P, "b", a.b));
  AB_KV_TRY(buffer(P, "out", a.out));
  return {};
}

/// ab_kv_compact_args: ascending positions, -1 (compensation) only last and only when the
/// head drops a token.
inline std::string invalid_compact_args(const ab_kv_compact_args& a) {
  using namespace check;
  const char* P = "compact";
  AB_KV_TRY(positive(P, "heads_kv", a.heads_kv));
  AB_KV_TRY(positive(P, "len_k", a.len_k));
  AB_KV_TRY(positive(P, "head_dim", a.head_dim));
  AB_KV_TRY(positive(P, "kept_stride", a.kept_stride));
  if (!a.kept) return bad(P, "kept is NULL");
  if (!a.kept_count) return bad(P, "kept_count is NULL");
  AB_KV_TRY(buffer(P, "k", a.k));
  AB_KV_TRY(buffer(P, "v", a.v));
  AB_KV_TRY(buffer(P, "k_out", a.k_out));
  AB_KV_TRY(buffer(P, "v_out", a.v_out));
  for (int32_t j = 0; j < a.heads_kv; ++j) {
    const int32_t n = a.kept_count[j];
    if (n < 0 || n > a.kept_stride)
      return bad(P, "kept_count[" + num(j) + "] = " + num(n) + " is not in [0, kept_stride = " + num(a.kept_stride) + "]");
    const int32_t* p = a.kept + static_cast<size_t>(j) * a.kept_stride;
    for (int32_t i = 0; i < n; ++i) {
      if (p[i] == -1) {
        if (i != n - 1) return bad(P, "head " + num(j) + ": the compensation slot (-1) must be the last kept slot");
        if (n - 1 >= a.len_k) return bad(P, "head " + num(j) + " has a compensation slot but drops no token");
        continue;
      }
      if (p[i] < 0 || p[i] >= a.len_k)
        return bad(P, "kept[" + num(j) + "][" + num(i) + "] = " + num(p[i]) + " is not a position in [0, " + num(a.len_k) + ") or -1");
      if (i && p[i] <= p[i - 1]) return bad(P, "kept positions of head " + num(j) + " are not strictly ascending at slot " + num(i));
    }
  }
  return {};
}

/// ab_kv_quant_args; need_buffers: quantize (else quant_bytes, which names itself).
inline std::string invalid_quant_args(const ab_kv_quant_args& a, bool need_buffers) {
  using namespace check;
  const char* P = need_buffers ? "quantize" : "quant_bytes";
  AB_KV_TRY(positive(P, "heads_kv", a.heads_kv));
  AB_KV_TRY(positive(P, "len_k", a.len_k));
  AB_KV_TRY(positive(P, "head_dim", a.head_dim));
  AB_KV_TRY(quant_spec(P, a.spec));
  AB_KV_TRY(lengths(P, a.len_per_head, a.heads_kv, a.len_k));
  if (need_buffers) {
    AB_KV_TRY(buffer(P, "k", a.k));
    AB_KV_TRY(buffer(P, "v", a.v));
    AB_KV_TRY(buffer(P, "out", a.out));
  }
  return {};
}

/// ab_kv_quant_decode_args.
inline std::string invalid_quant_decode_args(const ab_kv_quant_decode_args& a) {
  using namespace check;
  const char* P = "quant_decode";
  AB_KV_TRY(heads(P, a.heads_q, a.heads_kv));
  AB_KV_TRY(positive(P, "len_k", a.len_k));
  AB_KV_TRY(positive(P, "head_dim", a.head_dim));
  AB_KV_TRY(positive(P, "n_q", a.n_q));
  AB_KV_TRY(quant_spec(P, a.spec));
  AB_KV_TRY(lengths(P, a.len_per_head, a.heads_kv, a.len_k));
  if (!isfinite(a.scale)) return bad(P, "scale must be finite");
  AB_KV_TRY(buffer(P, "cache", a.cache));
  AB_KV_TRY(buffer(P, "q", a.q));
  AB_KV_TRY(buffer(P, "o", a.o));
  return {};
}

#undef AB_KV_TRY

/// Empty if the kernels are instantiated for the decode shape, else why not (AB_UNSUPPORTED).
inline std::string unsupported_quant_decode(const ab_kv_quant_decode_args& a) {
  if (a.head_dim <= kQuantMaxHeadDim) return {};
  return "quant_decode: head_dim > " + std::to_string(kQuantMaxHeadDim) + " is not instantiated on the GPU backends";
}

/// The message of a cache that another shape or spec produced (the header differs).
inline const char* foreign_cache_message() { return "quant_decode: the cache was not quantised with this shape and spec"; }

}  // namespace attnbench::gpu::kv
