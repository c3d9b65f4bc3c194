#include "approx_sea.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "approx_limits.h"
#include "linear_attention.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kRows = 32;   // query rows per task: they share each chunk of key features
constexpr int kGroup = 8;   // rows whose accumulators stay in registers
constexpr int kChunk = 128; // keys per chunk: D x 128 features stay in L1 across the row groups
constexpr int64_t kMaxFeatures = 1024;

struct SeaOptions {
  int k = 256;
  LinearOptions map;  // feature, features, fdim (block unused)
};

Check parse(const ab_attention_args& a, const VariantOptions& options, SeaOptions& o) {
  VariantOptions ints = options;
  if (auto it = ints.find("feature"); it != ints.end()) {
    if (!linear_attn::parse_feature_kind(it->second, &o.map.feature))
      return {AB_UNSUPPORTED, "sea: option feature='" + it->second + "' is not one of elu1, relu, taylor, performer"};
    ints.erase(it);
  }
  const int fdim = o.map.feature == linear_attn::FeatureKind::taylor ? std::min(16, a.head_dim) : a.head_dim;
  int v[3];
  Check c = topk::parse_int_options("sea", ints, {{"k", 256, 1, 1 << 30}, {"features", 32, 1, 8192},
                                                  {"fdim", fdim, 1, std::max(1, a.head_dim)}}, v);
  o.k = v[0];
  o.map.features = v[1];
  o.map.fdim = v[2];
  if (!c.ok()) return c;
  const int64_t D = linear_attn::feature_dim(o.map.feature, o.map.fdim, o.map.features);
  if (D > kMaxFeatures)
    return {AB_UNSUPPORTED, "sea: feature dimension " + std::to_string(D) + " exceeds " + std::to_string(kMaxFeatures) +
                                " (lower fdim or features)"};
  return {};
}

/// est[r][j] = phi_q[r] . phi_k[j] for kRows rows and keys [0, n16) (n16 a multiple of
/// 16; phi_kt is D x stride, transposed so that 16 keys are one vector). Key chunks
/// outside, row groups inside, so each chunk of features is read from memory once per
/// kRows rows.
void estimate_tile(const float* phi_q, const float* phi_kt, int64_t D, size_t stride, int n16, float* est) {
  for (int c0 = 0; c0 < n16; c0 += kChunk) {
    const int c1 = std::min(n16, c0 + kChunk);
    for (int g = 0; g < kRows; g += kGroup)
      for (int j = c0; j < c1; j += 16) {
        V16 acc[kGroup];
        for (V16& x : acc) x = v_zero();
        for (int64_t f = 0; f < D; ++f) {
          const V16 kf = v_load(phi_kt + static_cast<size_t>(f) * stride + j);
          for (int r = 0; r < kGroup; ++r) acc[r] = v_fmadd(v_set1(phi_q[(g + r) * D + f]), kf, acc[r]);
        }
        for (int r = 0; r < kGroup; ++r) v_store(est + static_cast<size_t>(g + r) * n16 + j, acc[r]);
      }
  }
}

/// The k largest of s[0..n) (ties: lower index first) into `out`, in no particular
/// order; all n when k >= n.
/// Long rows (n >= 4k) first try a bar: the value about 2k keys reach, read off a
/// sample of every 8th score. When at least k keys reach it, the k-th largest score is
/// at or above it, so the top-k are among those candidates and are picked there
/// (nth_element on about 2k indices instead of n). Otherwise, and for short rows, the
/// k-th largest value t comes from nth_element on a copy of the scores (plain float
/// compares), then one pass keeps every key above t and the earliest keys equal to t.
void top_k_keys(const float* s, int n, int k, std::vector<float>& copy, std::vector<int>& out) {
  out.clear();
  if (k >= n) {
    for (int j = 0; j < n; ++j) out.push_back(j);
    return;
  }
  constexpr int kStride = 8;
  if (n >= 4 * k) {
    copy.clear();
    for (int j = 0; j < n; j += kStride) copy.push_back(s[j]);
    const int rank = std::min(static_cast<int>(copy.size()) - 1, 2 * k / kStride);
    std::nth_element(copy.begin(), copy.begin() + rank, copy.end(), std::greater<float>());
    const float bar = copy[rank];
    out.resize(n);
    int c = 0;
    for (int j = 0; j < n; ++j) {  // branch-free: the bar passes about 2k of n keys
      out[c] = j;
      c += s[j] >= bar;
    }
    out.resize(c);
    if (c >= k) {
      const auto better = [s](int x, int y) { return s[x] > s[y] || (s[x] == s[y] && x < y); };
      std::nth_element(out.begin(), out.begin() + (k - 1), out.end(), better);
      out.resize(k);
      return;
    }
    out.clear();
  }
  copy.assign(s, s + n);
  std::nth_element(copy.begin(), copy.begin() + (n - k), copy.end());
  const float t = copy[n - k];
  int above = 0;
  for (int j = 0; j < n; ++j) above += s[j] > t;
  int ties = k - above;  // keys equal to t that still fit, earliest first
  for (int j = 0; j < n; ++j)
    if (s[j] > t || (s[j] == t && ties-- > 0)) out.push_back(j);
}

}  // namespace

Check sea_supports(const ab_attention_args& a, const VariantOptions& options) {
  SeaOptions o;
  if (Check c = parse(a, options, o); !c.ok()) return c;
  return approx_limits("sea", a, {.causal = true, .softcap = true, .varlen = true});
}

void sea_run(const ab_attention_args& a, const VariantOptions& options) {
  SeaOptions o;
  parse(a, options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim;
  const topk::KvF32 kv(a);
  const LinearState map(o.map, d);
  const int64_t D = map.dim();
  const MaskHook mask{a.causal, -1, -1};
  const LogitsHook logits{a.scale, a.softcap};
  const size_t stride = (static_cast<size_t>(a.len_k) + 15) / 16 * 16;

  // Key features per (batch, KV head), transposed (D x stride, zero padded), in this
  // thread's reusable scratch (fresh pages per call cost a fault per 4 KiB).
  const size_t per_head = static_cast<size_t>(D) * stride;
  thread_local ScratchF32 phi_scratch;
  float* const phi_kt = phi_scratch.get(per_head * a.batch * a.heads_kv);
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) {
    const int b = bh / a.heads_kv, hk = bh % a.heads_kv, lk = len_k_of(a, b);
    float* const t = phi_kt + per_head * bh;
    std::fill(t, t + per_head, 0.0f);
    std::vector<float> phi(D);
    for (int j = 0; j < lk; ++j) {
      map.features(kv.k(b, hk, j), phi.data());
      for (int64_t f = 0; f < D; ++f) t[static_cast<size_t>(f) * stride + j] = phi[f];
    }
  });

  const int tiles = (a.len_q + kRows - 1) / kRows;
  tbb::parallel_for(0, a.batch * a.heads_q * tiles, [&](int task) {
    const int tile = task % tiles, bh = task / tiles, b = bh / a.heads_q, h = bh % a.heads_q;
    const int hk = kv_head_of(h, a.heads_q, a.heads_kv), lq = len_q_of(a, b), lk = len_k_of(a, b);
    const int i0 = tile * kRows, rows = std::min(kRows, lq - i0);
    if (rows <= 0) return;
    thread_local ScratchF32 q_buf, phi_buf, est_buf;
    thread_local std::vector<float> scratch, out;
    thread_local std::vector<int> keys;
    thread_local std::vector<float> copy;
    float* q = q_buf.get(static_cast<size_t>(kRows) * d);
    float* phi_q = phi_buf.get(static_cast<size_t>(kRows) * D);
    std::fill(phi_q, phi_q + kRows * D, 0.0f);
    int hi = 0;  // keys any row of the tile sees: [0, hi)
    for (int r = 0; r < rows; ++r) {
      load_row_f32(a.dtype, a.q, row_offset(b, h, i0 + r, a.heads_q, a.len_q, d), q + r * d, d);
      map.features(q + r * d, phi_q + r * D);
      hi = std::max(hi, mask.keys_for(i0 + r, lq, lk).hi);
    }
    const int n16 = (hi + 15) / 16 * 16;
    // Sized for the longest row at once: growing tile by tile (causal) would fault in fresh pages.
    float* est = est_buf.get(static_cast<size_t>(kRows) * std::max(stride, size_t(16)));
    estimate_tile(phi_q, phi_kt + per_head * (static_cast<size_t>(b) * a.heads_kv + hk), D, stride, n16, est);
    out.resize(d);
    for (int r = 0; r < rows; ++r) {
      const int visible = mask.keys_for(i0 + r, lq, lk).hi;  // no window: keys [0, visible)
      top_k_keys(est + static_cast<size_t>(r) * n16, visible, o.k, copy, keys);
      topk::attend_indices(q + r * d, kv, b, hk, d, logits, keys, scratch, out.data());
      store_row(a.dtype, a.o, row_offset(b, h, i0 + r, a.heads_q, a.len_q, d), out.data(), d);
    }
  });
}

AB_CPU_NS_END
