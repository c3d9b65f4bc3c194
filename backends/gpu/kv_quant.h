// Quantised KV cache of the GPU backends (ab_kv_quant_*): its layout, the per-element
// quantise work items and the dequantising loads decode uses, host/device so that the
// kernels (kv_kernels.cuh) and the CPU emulation run the same code.
//
// Layout of the cache buffer: QuantHead[heads_kv] (self-describing, so quant_decode can
// check it was given the cache it describes), then per head and per tensor (K, V):
//   codes  : the first nq tokens' codes, bit-packed little-endian, code (t, c) at bit
//            (t * head_dim + c) * bits, plus one byte of read-ahead, 16-byte aligned;
//   params : fp16 bit patterns per group, scale (and zero point when asymmetric);
//   resid  : tokens nq .. len-1 in fp32 [len - nq, head_dim] (the full-precision window).
// nq = max(0, len - residual) rounded down to a whole number of every per-channel group.
#pragma once

#include "kv_math.h"

namespace attnbench::gpu::kv {

/// How one tensor (K or V) of one head is quantised.
struct QuantTensor {
  int32_t bits, axis, group, symmetric;  // group: effective (tokens or channels per group)
  uint64_t codes, params, resid;         // byte offsets in the cache buffer
};

/// Per-head record at the start of the cache.
struct QuantHead {
  int32_t len, nq, head_dim, residual;
  QuantTensor t[2];  // 0 = K, 1 = V
};

AB_INLINE int gcd_int(int a, int b) {
  while (b) { const int r = a % b; a = b; b = r; }
  return a;
}

/// Tokens of a head of `len` tokens that are quantised (the rest stay fp32).
AB_INLINE int quant_tokens(const ab_kv_quant_spec& s, int len) {
  int nq = len - s.residual > 0 ? len - s.residual : 0;
  int unit = 1;
  if (s.key_axis == AB_KV_PER_CHANNEL && s.key_group > 0) unit = s.key_group;
  if (s.value_axis == AB_KV_PER_CHANNEL && s.value_group > 0)
    unit = unit / gcd_int(unit, s.value_group) * s.value_group;
  return nq / unit * unit;
}

/// Effective group size: per token, `group` channels (0 or more than head_dim = the row);
/// per channel, `group` tokens (0 = all nq quantised tokens as one group).
AB_INLINE int quant_group(int axis, int group, int head_dim, int nq) {
  if (axis == AB_KV_PER_TOKEN) return (group <= 0 || group > head_dim) ? head_dim : group;
  return group > 0 ? group : nq;
}

/// Groups of one tensor of a head with nq quantised tokens.
AB_INLINE int64_t quant_groups(const QuantTensor& q, int nq, int head_dim) {
  if (q.axis == AB_KV_PER_TOKEN) return static_cast<int64_t>(nq) * ((head_dim + q.group - 1) / q.group);
  return q.group > 0 ? static_cast<int64_t>(nq / q.group) * head_dim : 0;
}

/// uint16 entries per group (scale, plus zero point when asymmetric).
AB_INLINE int quant_params_per_group(const QuantTensor& q) { return q.symmetric ? 1 : 2; }

AB_INLINE uint64_t align16(uint64_t x) { return (x + 15u) & ~static_cast<uint64_t>(15u); }

/// Fills heads[0 .. heads_kv) for the shape and returns the cache size in bytes.
/// len_per_head null means len_k for every head (validated by the caller).
AB_INLINE uint64_t plan_quant(const ab_kv_quant_spec& s, int heads_kv, int len_k, int head_dim,
                              const int32_t* len_per_head, QuantHead* heads) {
  uint64_t off = align16(static_cast<uint64_t>(heads_kv) * sizeof(QuantHead));
  for (int j = 0; j < heads_kv; ++j) {
    QuantHead h{};
    h.len = len_per_head ? len_per_head[j] : len_k;
    h.nq = quant_tokens(s, h.len);
    h.head_dim = head_dim;
    h.residual = s.residual;
    for (int w = 0; w < 2; ++w) {
      QuantTensor& q = h.t[w];
      q.bits = w ? s.value_bits : s.key_bits;
      q.axis = w ? s.value_axis : s.key_axis;
      q.group = quant_group(q.axis, w ? s.value_group : s.key_group, head_dim, h.nq);
      q.symmetric = s.symmetric ? 1 : 0;
      q.codes = off;
      off = align16(off + (static_cast<uint64_t>(h.nq) * head_dim * q.bits + 7) / 8 + 1);
      q.params = off;
      off = align16(off + static_cast<uint64_t>(quant_groups(q, h.nq, head_dim)) * quant_params_per_group(q) * 2);
      q.resid = off;
      off = align16(off + static_cast<uint64_t>(h.len - h.nq) * head_dim * 4);
    }
    if (heads) heads[j] = h;
  }
  return off;
}

/// Largest code of `bits` bits (asymmetric) or largest magnitude (symmetric).
AB_INLINE int quant_qmax(int bits, int symmetric) { return symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1; }

/// Stored (unsigned) code of x under fp16-rounded scale and zero point.
AB_INLINE uint32_t quant_code(float x, float scale, float zero, int bits, int symmetric) {
  const int qmax = quant_qmax(bits, symmetric);
  if (!(scale > 0.0f)) return symmetric ? static_cast<uint32_t>(qmax) : 0u;  // code of 0 / of zero
  float c = rintf(symmetric ? x / scale : (x - zero) / scale);
  const float lo = symmetric ? -static_cast<float>(qmax) : 0.0f;
  c = fminf(fmaxf(c, lo), static_cast<float>(qmax));
  return static_cast<uint32_t>(static_cast<int>(c) + (symmetric ? qmax : 0));
}

/// Value a stored code stands for.
AB_INLINE float quant_value(uint32_t code, float scale, float zero, int bits, int symmetric) {
  if (symmetric) return static_cast<float>(static_cast<int>(code) - quant_qmax(bits, symmetric)) * scale;
  return fmaf(static_cast<float>(code), scale, zero);  // one rounding, as the CPU backend
}

/// Group of element (t, c) (t < nq) of a tensor.
AB_INLINE int64_t quant_group_of(const QuantTensor& q, int head_dim, int t, int c) {
  if (q.axis == AB_KV_PER_TOKEN) return static_cast<int64_t>(t) * ((head_dim + q.group - 1) / q.group) + c / q.group;
  return static_cast<int64_t>(t / q.group) * head_dim + c;
}

/// Scale and zero point of group g, read back from the cache.
AB_INLINE void quant_group_params(const uint8_t* cache, const QuantTensor& q, int64_t g, float* scale, float* zero) {
  const uint16_t* p = reinterpret_cast<const uint16_t*>(cache + q.params) + g * quant_params_per_group(q);
  *scale = fp16_value(p[0]);
  *zero = q.symmetric ? 0.0f : fp16_value(p[1]);
}

/// Dequantised (or residual fp32) element (t, c) of tensor w of head h.
AB_INLINE float quant_load(const uint8_t* cache, const QuantHead& h, int w, int t, int c) {
  const QuantTensor& q = h.t[w];
  if (t >= h.nq) return reinterpret_cast<const float*>(cache + q.resid)[static_cast<size_t>(t - h.nq) * h.head_dim + c];
  const uint64_t bit = (static_cast<uint64_t>(t) * h.head_dim + c) * q.bits;
  const uint8_t* b = cache + q.codes + (bit >> 3);
  const uint32_t word = static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8);
  const uint32_t code = (word >> (bit & 7u)) & ((1u << q.bits) - 1u);
  float scale, zero;
  quant_group_params(cache, q, quant_group_of(q, h.head_dim, t, c), &scale, &zero);
  return quant_value(code, scale, zero, q.bits, q.symmetric);
}

/// The quantise passes' arguments: source K, V [heads_kv, len_k, head_dim] and the cache
/// (whose QuantHead records are already written). `per_head` is the index range per head
/// of the pass (the largest over heads); indices past a head's own count do nothing.
struct QuantParams {
  int heads_kv, len_k, head_dim, which;
  int64_t per_head;
  const QuantHead* heads;
  const float* k;
  const float* v;
  uint8_t* cache;

  AB_INLINE int64_t size() const { return static_cast<int64_t>(heads_kv) * per_head; }
  AB_INLINE const float* src(int j) const {
    return (which ? v : k) + static_cast<size_t>(j) * len_k * head_dim;
  }
};

/// Pass 1, one index per (head, group): min/max (or absmax) -> fp16 scale and zero point.
struct QuantGroupPass {
  QuantParams p;
  AB_INLINE int64_t size() const { return p.size(); }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.per_head);
    const int64_t g = idx % p.per_head;
    const QuantHead& h = p.heads[j];
    const QuantTensor& q = h.t[p.which];
    if (g >= quant_groups(q, h.nq, h.head_dim)) return;
    const int d = h.head_dim;
    const float* x = p.src(j);
    size_t off;
    int n, stride;
    if (q.axis == AB_KV_PER_TOKEN) {
      const int per = (d + q.group - 1) / q.group;
      const int t = static_cast<int>(g / per), c0 = static_cast<int>(g % per) * q.group;
      off = static_cast<size_t>(t) * d + c0;
      n = d - c0 < q.group ? d - c0 : q.group;
      stride = 1;
    } else {
      const int tg = static_cast<int>(g / d), c = static_cast<int>(g % d);
      off = static_cast<size_t>(tg) * q.group * d + c;
      n = q.group;
      stride = d;
    }
    float lo = INFINITY, hi = -INFINITY, amax = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float e = x[off + static_cast<size_t>(i) * stride];
      lo = fminf(lo, e);
      hi = fmaxf(hi, e);
      amax = fmaxf(amax, fabsf(e));
    }
    const float qmax = static_cast<float>(quant_qmax(q.bits, q.symmetric));
    uint16_t* out = reinterpret_cast<uint16_t*>(p.cache + q.params) + g * quant_params_per_group(q);
    if (q.symmetric) {
      out[0] = fp16_bits(round_fp16(amax / qmax));
    } else {
      out[0] = fp16_bits(round_fp16((hi - lo) / qmax));
      out[1] = fp16_bits(round_fp16(lo));
    }
  }
};

/// Pass 2 (after pass 1), one index per (head, code byte): packs the codes overlapping
/// the byte, so no two threads write the same byte.
struct QuantPackPass {
  QuantParams p;
  AB_INLINE int64_t size() const { return p.size(); }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.per_head);
    const int64_t byte = idx % p.per_head;
    const QuantHead& h = p.heads[j];
    const QuantTensor& q = h.t[p.which];
    const int64_t codes = static_cast<int64_t>(h.nq) * h.head_dim;
    const int64_t bytes = (codes * q.bits + 7) / 8;
    if (byte > bytes) return;  // byte == bytes is the read-ahead byte: written as 0
    const float* x = p.src(j);
    uint32_t acc = 0;
    const int64_t first = byte * 8 / q.bits, last = (byte * 8 + 7) / q.bits;
    for (int64_t e = first; e <= last && e < codes; ++e) {
      const int t = static_cast<int>(e / h.head_dim), c = static_cast<int>(e % h.head_dim);
      float scale, zero;
      quant_group_params(p.cache, q, quant_group_of(q, h.head_dim, t, c), &scale, &zero);
      const uint64_t code = quant_code(x[e], scale, zero, q.bits, q.symmetric);
      const int64_t shift = e * q.bits - byte * 8;  // where the code starts relative to the byte
      acc |= static_cast<uint32_t>(shift >= 0 ? (code << shift) : (code >> -shift));
    }
    p.cache[q.codes + byte] = static_cast<uint8_t>(acc & 0xffu);
  }
};

/// One index per (head, residual element): copies the full-precision tokens.
struct QuantResidualPass {
  QuantParams p;
  AB_INLINE int64_t size() const { return p.size(); }
  AB_INLINE void operator()(int64_t idx) const {
    const int j = static_cast<int>(idx / p.per_head);
    const int64_t e = idx % p.per_head;
    const QuantHead& h = p.heads[j];
    if (e >= static_cast<int64_t>(h.len - h.nq) * h.head_dim) return;
    const size_t src = static_cast<size_t>(h.nq) * h.head_dim + e;
    reinterpret_cast<float*>(p.cache + h.t[p.which].resid)[e] = p.src(j)[src];
  }
};

/// Decode over the cache: one query row (query head h, row r) per block on the device,
/// in tiles of kQuantTile tokens under the online softmax (kernel_math.h).
constexpr int kQuantTile = 128;
constexpr int kQuantMaxHeadDim = 512;  // 128 threads x 4 accumulators

struct QuantDecodeParams {
  int heads_q, heads_kv, n_q, head_dim;
  float scale;
  const uint8_t* cache;
  const float* q;  // [heads_q, n_q, head_dim]
  float* o;        // [heads_q, n_q, head_dim]

  AB_INLINE const QuantHead& head_of(int h) const {
    return reinterpret_cast<const QuantHead*>(cache)[h / (heads_q / heads_kv)];
  }
  /// Scaled logit of token t of the row's head.
  AB_INLINE float logit(const QuantHead& hd, const float* qrow, int t) const {
    float acc = 0.0f;
    for (int c = 0; c < head_dim; ++c) acc += qrow[c] * quant_load(cache, hd, 0, t, c);
    return scale * acc;
  }
};

}  // namespace attnbench::gpu::kv
