// Plain fp64 references of the KV primitives, written from the plugin_abi.h text alone
// (no shared GPU header), for the emulation and plugin tests. Buffers in the argument
// structs are host pointers.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attnbench/plugin_abi.h"

namespace kvref {

inline const float* f(ab_buffer b) { return reinterpret_cast<const float*>(b); }

/// Observation scores [heads_kv, n_out]; slots >= key_count are NaN (untouched).
inline std::vector<double> scores(const ab_kv_score_args& a) {
  const int n_out = a.keys ? a.keys_stride : a.len_k, group = a.heads_q / a.heads_kv, d = a.head_dim;
  std::vector<double> out(static_cast<size_t>(a.heads_kv) * n_out, NAN);
  for (int j = 0; j < a.heads_kv; ++j) {
    const int n = a.keys ? a.key_count[j] : a.len_k;
    auto pos = [&](int i) { return a.keys ? a.keys[static_cast<size_t>(j) * a.keys_stride + i] : i; };
    std::vector<double> total(n, 0.0);
    for (int g = 0; g < group; ++g) {
      const int h = j * group + g;
      std::vector<double> acc(n, 0.0);
      for (int r = 0; r < a.n_obs; ++r) {
        const float* q = f(a.q) + (static_cast<size_t>(h) * a.q_rows + a.row0 + r) * d;
        std::vector<double> logit(n, -INFINITY);
        double mx = -INFINITY;
        for (int i = 0; i < n; ++i) {
          if (a.q_pos && pos(i) > a.q_pos[r]) continue;
          const float* k = f(a.k) + (static_cast<size_t>(j) * a.len_k + pos(i)) * d;
          double dot = 0;
          for (int c = 0; c < d; ++c) dot += double(q[c]) * k[c];
          logit[i] = a.scale * dot;
          mx = std::max(mx, logit[i]);
        }
        if (mx == -INFINITY) continue;
        double sum = 0;
        for (int i = 0; i < n; ++i) sum += std::exp(logit[i] - mx);
        for (int i = 0; i < n; ++i) {
          const double p = std::exp(logit[i] - mx) / sum;
          const double w = (a.q_weight && a.row_reduce == AB_KV_SUM) ? a.q_weight[r] : 1.0;
          acc[i] = a.row_reduce == AB_KV_MAX ? std::max(acc[i], p) : acc[i] + w * p;
        }
      }
      for (int i = 0; i < n; ++i) total[i] = a.group_reduce == AB_KV_MAX ? std::max(total[i], acc[i]) : total[i] + acc[i];
    }
    const int lim = (a.pool_end > 0 && a.pool_end < n) ? a.pool_end : n;
    for (int i = 0; i < n; ++i) {
      double v = total[i];
      if (a.pool > 1 && i < lim)
        for (int s = std::max(0, i - a.pool / 2); s <= std::min(lim - 1, i + a.pool / 2); ++s) v = std::max(v, total[s]);
      out[static_cast<size_t>(j) * n_out + i] = v;
    }
  }
  return out;
}

/// Statistics (layouts of ab_kv_stat).
inline std::vector<double> statistics(const ab_kv_stat_args& a) {
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  const size_t mom = static_cast<size_t>(d) * (d + 1);
  auto krow = [&](int j, int t) { return f(a.k) + (static_cast<size_t>(j) * a.len_k + t) * d; };
  auto qrow = [&](int h, int r) { return f(a.q) + (static_cast<size_t>(h) * a.q_rows + a.row0 + r) * d; };
  std::vector<double> out;
  switch (a.stat) {
    case AB_KV_KEY_L2NORM:
      for (int j = 0; j < a.heads_kv; ++j)
        for (int t = 0; t < a.len_k; ++t) {
          double s = 0;
          for (int c = 0; c < d; ++c) s += double(krow(j, t)[c]) * krow(j, t)[c];
          out.push_back(std::sqrt(s));
        }
      break;
    case AB_KV_KEY_CHANNEL_ABSMEAN:
      for (int j = 0; j < a.heads_kv; ++j)
        for (int c = 0; c < d; ++c) {
          double s = 0;
          for (int t = 0; t < a.len_k; ++t) s += std::fabs(krow(j, t)[c]);
          out.push_back(a.len_k ? s / a.len_k : 0.0);
        }
      break;
    case AB_KV_QUERY_MEAN_COV:
      for (int h = 0; h < a.heads_q; ++h) {
        std::vector<double> mu(d, 0.0);
        for (int r = 0; r < a.n_obs; ++r)
          for (int c = 0; c < d; ++c) mu[c] += qrow(h, r)[c] / double(a.n_obs);
        out.insert(out.end(), mu.begin(), mu.end());
        for (int x = 0; x < d; ++x)
          for (int y = 0; y < d; ++y) {
            double s = 0;
            for (int r = 0; r < a.n_obs; ++r) s += (qrow(h, r)[x] - mu[x]) * (qrow(h, r)[y] - mu[y]);
            out.push_back(s / a.n_obs);
          }
      }
      break;
    case AB_KV_EXPECTED_LOGIT:
      for (int j = 0; j < a.heads_kv; ++j)
        for (int t = 0; t < a.len_k; ++t) {
          const float* k = krow(j, t);
          std::vector<double> v;
          for (int g = 0; g < group; ++g) {
            const float* mu = f(a.aux) + (j * group + g) * mom;
            double lin = 0, quad = 0;
            for (int x = 0; x < d; ++x) {
              lin += double(mu[x]) * k[x];
              for (int y = 0; y < d; ++y) quad += double(k[x]) * mu[d + x * d + y] * k[y];
            }
            v.push_back(a.scale * lin + 0.5 * a.scale * a.scale * quad);
          }
          const double mx = *std::max_element(v.begin(), v.end());
          double s = 0;
          for (double x : v) s += std::exp(x - mx);
          out.push_back(mx + std::log(s));
        }
      break;
  }
  return out;
}

/// Top-k positions [rows, k], ascending; ties to the lower position.
inline std::vector<int32_t> topk(const ab_kv_topk_args& a) {
  std::vector<int32_t> out;
  const float* s = f(a.scores);
  for (int r = 0; r < a.rows; ++r) {
    std::vector<int32_t> mid, keep;
    for (int p = 0; p < a.n; ++p) (p < a.force_head || p >= a.n - a.force_tail ? keep : mid).push_back(p);
    const float* row = s + static_cast<size_t>(r) * a.n;
    std::stable_sort(mid.begin(), mid.end(), [&](int x, int y) { return row[x] > row[y]; });
    keep.insert(keep.end(), mid.begin(), mid.begin() + (a.k - a.force_head - a.force_tail));
    std::sort(keep.begin(), keep.end());
    out.insert(out.end(), keep.begin(), keep.end());
  }
  return out;
}

/// Batched inner products [batch, m, n].
inline std::vector<double> dot(const ab_kv_dot_args& a) {
  std::vector<double> out;
  for (int b = 0; b < a.batch; ++b)
    for (int i = 0; i < a.m; ++i)
      for (int j = 0; j < a.n; ++j) {
        double s = 0;
        for (int c = 0; c < a.dim; ++c)
          s += double(f(a.a)[(static_cast<size_t>(b) * a.m + i) * a.dim + c]) * f(a.b)[(static_cast<size_t>(b) * a.n + j) * a.dim + c];
        out.push_back(s);
      }
  return out;
}

/// Compacted K and V [heads_kv, kept_stride, head_dim]; untouched slots NaN.
inline void compact(const ab_kv_compact_args& a, std::vector<double>& k_out, std::vector<double>& v_out) {
  const int d = a.head_dim;
  k_out.assign(static_cast<size_t>(a.heads_kv) * a.kept_stride * d, NAN);
  v_out = k_out;
  for (int j = 0; j < a.heads_kv; ++j) {
    std::vector<bool> kept(a.len_k, false);
    for (int s = 0; s < a.kept_count[j]; ++s)
      if (a.kept[j * a.kept_stride + s] >= 0) kept[a.kept[j * a.kept_stride + s]] = true;
    std::vector<double> mk(d, 0.0), mv(d, 0.0);
    const int rest = static_cast<int>(std::count(kept.begin(), kept.end(), false));
    for (int t = 0; t < a.len_k; ++t)
      for (int c = 0; rest && !kept[t] && c < d; ++c) {
        mk[c] += f(a.k)[(static_cast<size_t>(j) * a.len_k + t) * d + c] / double(rest);
        mv[c] += f(a.v)[(static_cast<size_t>(j) * a.len_k + t) * d + c] / double(rest);
      }
    for (int s = 0; s < a.kept_count[j]; ++s) {
      const int pos = a.kept[j * a.kept_stride + s];
      for (int c = 0; c < d; ++c) {
        const size_t o = (static_cast<size_t>(j) * a.kept_stride + s) * d + c;
        const size_t src = (static_cast<size_t>(j) * a.len_k + pos) * d + c;
        k_out[o] = pos >= 0 ? f(a.k)[src] : mk[c];
        v_out[o] = pos >= 0 ? f(a.v)[src] : mv[c];
        if (a.key_channel_mask && !a.key_channel_mask[j * d + c]) k_out[o] = 0.0;
      }
    }
  }
}

inline float fp16(float x) { return static_cast<float>(static_cast<_Float16>(x)); }

/// Quantises and dequantises one group in place (the spec's formulas, fp16 scales).
inline void fake_quant_group(std::vector<float*> xs, int bits, bool symmetric) {
  float lo = INFINITY, hi = -INFINITY, amax = 0;
  for (float* x : xs) lo = std::min(lo, *x), hi = std::max(hi, *x), amax = std::max(amax, std::fabs(*x));
  if (symmetric) {
    const float qm = float((1 << (bits - 1)) - 1), s = fp16(amax / qm);
    for (float* x : xs) *x = s > 0 ? std::clamp(std::nearbyint(*x / s), -qm, qm) * s : 0.0f;
  } else {
    const float qm = float((1 << bits) - 1), z = fp16(lo), s = fp16((hi - lo) / qm);
    for (float* x : xs) *x = z + (s > 0 ? std::clamp(std::nearbyint((*x - z) / s), 0.0f, qm) : 0.0f) * s;
  }
}

/// Quantised tokens of a head of `len` tokens: residual and the per-channel group tail
/// stay full precision (ab_kv_quant_spec).
inline int quantised_tokens(const ab_kv_quant_spec& s, int len) {
  int unit = 1;
  if (s.key_axis == AB_KV_PER_CHANNEL && s.key_group > 0) unit = std::lcm(unit, s.key_group);
  if (s.value_axis == AB_KV_PER_CHANNEL && s.value_group > 0) unit = std::lcm(unit, s.value_group);
  return std::max(0, len - s.residual) / unit * unit;
}

/// K or V of one head [len, d] after quantisation and dequantisation.
inline void fake_quant(float* x, int len, int d, const ab_kv_quant_spec& s, bool value) {
  const int nq = quantised_tokens(s, len), bits = value ? s.value_bits : s.key_bits;
  const ab_kv_quant_axis axis = value ? s.value_axis : s.key_axis;
  int g = value ? s.value_group : s.key_group;
  if (axis == AB_KV_PER_TOKEN) {
    g = (g <= 0 || g > d) ? d : g;
    for (int t = 0; t < nq; ++t)
      for (int c0 = 0; c0 < d; c0 += g) {
        std::vector<float*> xs;
        for (int c = c0; c < std::min(d, c0 + g); ++c) xs.push_back(x + static_cast<size_t>(t) * d + c);
        fake_quant_group(xs, bits, s.symmetric);
      }
  } else {
    g = g > 0 ? g : nq;
    for (int t0 = 0; g > 0 && t0 < nq; t0 += g)
      for (int c = 0; c < d; ++c) {
        std::vector<float*> xs;
        for (int t = t0; t < t0 + g; ++t) xs.push_back(x + static_cast<size_t>(t) * d + c);
        fake_quant_group(xs, bits, s.symmetric);
      }
  }
}

/// Decode over the quantised cache [heads_q, n_q, head_dim] in fp64 over dequantised K, V.
inline std::vector<double> quant_decode(const ab_kv_quant_decode_args& a, const float* k, const float* v) {
  const int d = a.head_dim, group = a.heads_q / a.heads_kv;
  std::vector<double> out(static_cast<size_t>(a.heads_q) * a.n_q * d, 0.0);
  for (int h = 0; h < a.heads_q; ++h) {
    const int j = h / group, len = a.len_per_head ? a.len_per_head[j] : a.len_k;
    std::vector<float> kq(k + static_cast<size_t>(j) * a.len_k * d, k + (static_cast<size_t>(j) * a.len_k + len) * d);
    std::vector<float> vq(v + static_cast<size_t>(j) * a.len_k * d, v + (static_cast<size_t>(j) * a.len_k + len) * d);
    fake_quant(kq.data(), len, d, a.spec, false);
    fake_quant(vq.data(), len, d, a.spec, true);
    for (int r = 0; r < a.n_q; ++r) {
      const float* q = f(a.q) + (static_cast<size_t>(h) * a.n_q + r) * d;
      std::vector<double> l(len);
      double mx = -INFINITY, sum = 0;
      for (int t = 0; t < len; ++t) {
        double s = 0;
        for (int c = 0; c < d; ++c) s += double(q[c]) * kq[static_cast<size_t>(t) * d + c];
        mx = std::max(mx, l[t] = a.scale * s);
      }
      for (int t = 0; t < len; ++t) sum += std::exp(l[t] - mx);
      for (int t = 0; t < len; ++t)
        for (int c = 0; c < d; ++c)
          out[(static_cast<size_t>(h) * a.n_q + r) * d + c] += std::exp(l[t] - mx) / sum * vq[static_cast<size_t>(t) * d + c];
    }
  }
  return out;
}

}  // namespace kvref
