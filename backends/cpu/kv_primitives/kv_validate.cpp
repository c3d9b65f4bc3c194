// Argument validation of the KV primitives: shapes, NULL buffers, ranges and the host
// index lists (ascending, in range), so a kernel never reads out of bounds. Each
// failure is AB_INVALID_ARGUMENT with one line naming the primitive, the field and the
// value.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "kv_primitives.h"
#include "quant_layout.h"

namespace attnbench::cpu::kv {
namespace {

Check bad(const char* prim, const std::string& msg) { return {AB_INVALID_ARGUMENT, std::string(prim) + ": " + msg}; }
std::string num(int64_t v) { return std::to_string(v); }

/// heads_q >= 1, heads_kv >= 1, heads_q a multiple of heads_kv.
Check heads(const char* prim, int32_t hq, int32_t hkv) {
  if (hkv < 1) return bad(prim, "heads_kv must be >= 1 (got " + num(hkv) + ")");
  if (hq < 1) return bad(prim, "heads_q must be >= 1 (got " + num(hq) + ")");
  if (hq % hkv) return bad(prim, "heads_q (" + num(hq) + ") must be a multiple of heads_kv (" + num(hkv) + ")");
  return {};
}

Check positive(const char* prim, const char* field, int64_t v) {
  if (v < 1) return bad(prim, std::string(field) + " must be >= 1 (got " + num(v) + ")");
  return {};
}

Check buffer(const char* prim, const char* field, const void* p) {
  if (!p) return bad(prim, std::string(field) + " is NULL");
  return {};
}

/// The integer an enum field of a caller's struct holds. A C caller may store any int
/// there, and loading a C++ enum outside its range is undefined (UBSan flags it), so the
/// checks read the bytes as an int first.
template <class E>
int32_t raw(const E& field) {
  static_assert(sizeof(E) == sizeof(int32_t), "ABI enums are int-sized");
  int32_t v;
  std::memcpy(&v, &field, sizeof v);
  return v;
}

Check reduce(const char* prim, const char* field, int32_t r) {
  if (r != AB_KV_SUM && r != AB_KV_MAX) return bad(prim, std::string(field) + " must be AB_KV_SUM or AB_KV_MAX (got " + num(r) + ")");
  return {};
}

/// Observation rows [row0, row0 + n_obs) within q_rows.
Check obs_rows(const char* prim, int32_t q_rows, int32_t row0, int32_t n_obs) {
  if (Check c = positive(prim, "q_rows", q_rows); !c.ok()) return c;
  if (Check c = positive(prim, "n_obs", n_obs); !c.ok()) return c;
  if (row0 < 0 || static_cast<int64_t>(row0) + n_obs > q_rows)
    return bad(prim, "observation rows [" + num(row0) + ", " + num(static_cast<int64_t>(row0) + n_obs) +
                         ") are not within q_rows = " + num(q_rows));
  return {};
}

#define AB_TRY(expr) \
  if (Check c_ = (expr); !c_.ok()) return c_

Check quant_spec(const char* prim, const ab_kv_quant_spec& s, int32_t head_dim) {
  for (int which = 0; which < 2; ++which) {
    const char* name = which ? "value" : "key";
    const int32_t bits = which ? s.value_bits : s.key_bits;
    const int32_t axis = raw(which ? s.value_axis : s.key_axis);
    const int32_t group = which ? s.value_group : s.key_group;
    if (bits < 1 || bits > 8) return bad(prim, std::string(name) + "_bits must be in 1..8 (got " + num(bits) + ")");
    if (s.symmetric && bits < 2)
      return bad(prim, std::string(name) + "_bits must be >= 2 for symmetric codes (1 bit has no level but 0)");
    if (axis != AB_KV_PER_TOKEN && axis != AB_KV_PER_CHANNEL)
      return bad(prim, std::string(name) + "_axis must be AB_KV_PER_TOKEN or AB_KV_PER_CHANNEL (got " + num(axis) + ")");
    if (group < 0) return bad(prim, std::string(name) + "_group must be >= 0 (got " + num(group) + ")");
    if (axis == AB_KV_PER_CHANNEL && group < 1)
      return bad(prim, std::string(name) + "_group must be >= 1 tokens for per-channel groups (got " + num(group) + ")");
    (void)head_dim;
  }
  if (s.symmetric != 0 && s.symmetric != 1) return bad(prim, "symmetric must be 0 or 1 (got " + num(s.symmetric) + ")");
  if (s.residual < 0) return bad(prim, "residual must be >= 0 (got " + num(s.residual) + ")");
  if (s.key_axis == AB_KV_PER_CHANNEL && s.value_axis == AB_KV_PER_CHANNEL &&
      std::lcm(static_cast<int64_t>(s.key_group), static_cast<int64_t>(s.value_group)) > (int64_t(1) << 30))
    return bad(prim, "key_group and value_group have too large a common multiple");
  return {};
}

Check lengths(const char* prim, const int32_t* len_per_head, int32_t heads_kv, int32_t len_k) {
  if (!len_per_head) return {};
  for (int32_t j = 0; j < heads_kv; ++j)
    if (len_per_head[j] < 0 || len_per_head[j] > len_k)
      return bad(prim, "len_per_head[" + num(j) + "] = " + num(len_per_head[j]) + " is not in [0, len_k = " + num(len_k) + "]");
  return {};
}

}  // namespace

Check validate(const ab_kv_score_args& a) {
  const char* P = "observation_scores";
  AB_TRY(heads(P, a.heads_q, a.heads_kv));
  AB_TRY(positive(P, "len_k", a.len_k));
  AB_TRY(positive(P, "head_dim", a.head_dim));
  AB_TRY(obs_rows(P, a.q_rows, a.row0, a.n_obs));
  AB_TRY(buffer(P, "k", a.k));
  AB_TRY(buffer(P, "q", a.q));
  AB_TRY(buffer(P, "scores", a.scores));
  AB_TRY(reduce(P, "row_reduce", raw(a.row_reduce)));
  AB_TRY(reduce(P, "group_reduce", raw(a.group_reduce)));
  if (a.pool < 1 || a.pool % 2 == 0) return bad(P, "pool must be an odd width >= 1 (got " + num(a.pool) + ")");
  if (!std::isfinite(a.scale)) return bad(P, "scale must be finite");
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
        if (i && p[i] <= p[i - 1])
          return bad(P, "keys of head " + num(j) + " are not strictly ascending at slot " + num(i));
      }
    }
  }
  if (a.pool_end < 0 || a.pool_end > n_out)
    return bad(P, "pool_end must be in [0, " + num(n_out) + "] (got " + num(a.pool_end) + ")");
  return {};
}

Check validate(const ab_kv_stat_args& a) {
  const char* P = "statistics";
  switch (raw(a.stat)) {
    case AB_KV_KEY_L2NORM:
    case AB_KV_KEY_CHANNEL_ABSMEAN:
      AB_TRY(positive(P, "heads_kv", a.heads_kv));
      AB_TRY(positive(P, "len_k", a.len_k));
      AB_TRY(positive(P, "head_dim", a.head_dim));
      AB_TRY(buffer(P, "k", a.k));
      break;
    case AB_KV_QUERY_MEAN_COV:
      AB_TRY(positive(P, "heads_q", a.heads_q));
      AB_TRY(positive(P, "head_dim", a.head_dim));
      AB_TRY(obs_rows(P, a.q_rows, a.row0, a.n_obs));
      AB_TRY(buffer(P, "q", a.q));
      break;
    case AB_KV_EXPECTED_LOGIT:
      AB_TRY(heads(P, a.heads_q, a.heads_kv));
      AB_TRY(positive(P, "len_k", a.len_k));
      AB_TRY(positive(P, "head_dim", a.head_dim));
      AB_TRY(buffer(P, "k", a.k));
      AB_TRY(buffer(P, "aux (the QUERY_MEAN_COV output)", a.aux));
      if (!std::isfinite(a.scale)) return bad(P, "scale must be finite");
      break;
    default:
      return bad(P, "unknown stat " + num(raw(a.stat)));
  }
  AB_TRY(buffer(P, "out", a.out));
  return {};
}

Check validate(const ab_kv_topk_args& a) {
  const char* P = "topk";
  AB_TRY(positive(P, "rows", a.rows));
  AB_TRY(positive(P, "n", a.n));
  if (a.k < 1 || a.k > a.n) return bad(P, "k must be in [1, n = " + num(a.n) + "] (got " + num(a.k) + ")");
  if (a.force_head < 0 || a.force_tail < 0)
    return bad(P, "force_head and force_tail must be >= 0 (got " + num(a.force_head) + ", " + num(a.force_tail) + ")");
  if (static_cast<int64_t>(a.force_head) + a.force_tail > a.k)
    return bad(P, "force_head + force_tail (" + num(static_cast<int64_t>(a.force_head) + a.force_tail) + ") exceeds k (" + num(a.k) + ")");
  AB_TRY(buffer(P, "scores", a.scores));
  AB_TRY(buffer(P, "out", a.out));
  return {};
}

Check validate(const ab_kv_dot_args& a) {
  const char* P = "dot";
  AB_TRY(positive(P, "batch", a.batch));
  AB_TRY(positive(P, "m", a.m));
  AB_TRY(positive(P, "n", a.n));
  AB_TRY(positive(P, "dim", a.dim));
  AB_TRY(buffer(P, "a", a.a));
  AB_TRY(buffer(P, "b", a.b));
  AB_TRY(buffer(P, "out", a.out));
  return {};
}

Check validate(const ab_kv_compact_args& a) {
  const char* P = "compact";
  AB_TRY(positive(P, "heads_kv", a.heads_kv));
  AB_TRY(positive(P, "len_k", a.len_k));
  AB_TRY(positive(P, "head_dim", a.head_dim));
  AB_TRY(positive(P, "kept_stride", a.kept_stride));
  if (!a.kept) return bad(P, "kept is NULL");
  if (!a.kept_count) return bad(P, "kept_count is NULL");
  AB_TRY(buffer(P, "k", a.k));
  AB_TRY(buffer(P, "v", a.v));
  AB_TRY(buffer(P, "k_out", a.k_out));
  AB_TRY(buffer(P, "v_out", a.v_out));
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

Check validate(const ab_kv_quant_args& a, bool need_buffers) {
  const char* P = need_buffers ? "quantize" : "quant_bytes";
  AB_TRY(positive(P, "heads_kv", a.heads_kv));
  AB_TRY(positive(P, "len_k", a.len_k));
  AB_TRY(positive(P, "head_dim", a.head_dim));
  AB_TRY(quant_spec(P, a.spec, a.head_dim));
  AB_TRY(lengths(P, a.len_per_head, a.heads_kv, a.len_k));
  if (need_buffers) {
    AB_TRY(buffer(P, "k", a.k));
    AB_TRY(buffer(P, "v", a.v));
    AB_TRY(buffer(P, "out", a.out));
  }
  return {};
}

Check validate(const ab_kv_quant_decode_args& a) {
  const char* P = "quant_decode";
  AB_TRY(heads(P, a.heads_q, a.heads_kv));
  AB_TRY(positive(P, "len_k", a.len_k));
  AB_TRY(positive(P, "head_dim", a.head_dim));
  AB_TRY(positive(P, "n_q", a.n_q));
  AB_TRY(quant_spec(P, a.spec, a.head_dim));
  AB_TRY(lengths(P, a.len_per_head, a.heads_kv, a.len_k));
  if (!std::isfinite(a.scale)) return bad(P, "scale must be finite");
  AB_TRY(buffer(P, "cache", a.cache));
  AB_TRY(buffer(P, "q", a.q));
  AB_TRY(buffer(P, "o", a.o));
  return {};
}

}  // namespace attnbench::cpu::kv
