#include "kv_emulation.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernel_math.h"
#include "kv_quant.h"
#include "kv_score.h"
#include "kv_select.h"
#include "kv_validate.h"

namespace attnbench::gpu {
namespace {

/// What for_each_kernel does on the device: f(i) for every index.
template <class F>
void run_each(const F& f) {
  for (int64_t i = 0, n = f.size(); i < n; ++i) f(i);
}

/// Records a validator's answer; true when the arguments are valid.
bool check(const std::string& why, std::string* error) {
  if (!why.empty() && error) *error = why;
  return why.empty();
}

template <class T> T* as(ab_buffer b) { return reinterpret_cast<T*>(b); }

}  // namespace

ab_status emulate_kv_observation_scores(const ab_kv_score_args& a, std::string* error) {
  if (!check(kv::invalid_score_args(a), error)) return AB_INVALID_ARGUMENT;
  kv::ScoreParams p{a.heads_q, a.heads_kv, a.len_k, a.head_dim, a.q_rows, a.row0, a.n_obs, a.keys_stride,
                    a.pool, a.pool_end, a.row_reduce, a.group_reduce, a.scale, as<const float>(a.k),
                    as<const float>(a.q), a.q_pos, a.q_weight, a.keys, a.key_count, nullptr, nullptr,
                    as<float>(a.scores)};
  std::vector<float> lse(static_cast<size_t>(a.heads_q) * a.n_obs);
  std::vector<float> raw(a.pool > 1 ? static_cast<size_t>(a.heads_kv) * p.n_out() : 0);
  p.lse = lse.data();
  p.raw = a.pool > 1 ? raw.data() : p.out;
  run_each(kv::ScoreRowLse{p});
  run_each(kv::ScoreSlot{p});
  if (a.pool > 1) run_each(kv::ScorePool{p});
  return AB_OK;
}

ab_status emulate_kv_statistics(const ab_kv_stat_args& a, std::string* error) {
  if (!check(kv::invalid_stat_args(a), error)) return AB_INVALID_ARGUMENT;
  const kv::StatParams p{a.heads_q, a.heads_kv, a.len_k, a.head_dim, a.q_rows, a.row0, a.n_obs, a.scale,
                         as<const float>(a.k), as<const float>(a.q), as<const float>(a.aux), as<float>(a.out)};
  switch (a.stat) {
    case AB_KV_KEY_L2NORM: run_each(kv::StatKeyNorm{p}); break;
    case AB_KV_KEY_CHANNEL_ABSMEAN: run_each(kv::StatChannelAbsMean{p}); break;
    case AB_KV_QUERY_MEAN_COV:
      run_each(kv::StatQueryMean{p});
      run_each(kv::StatQueryCov{p});
      break;
    case AB_KV_EXPECTED_LOGIT: run_each(kv::StatExpectedLogit{p}); break;
  }
  return AB_OK;
}

ab_status emulate_kv_topk(const ab_kv_topk_args& a, std::string* error) {
  if (!check(kv::invalid_topk_args(a), error)) return AB_INVALID_ARGUMENT;
  const kv::TopkParams p{a.rows, a.n, a.k, a.force_head, a.force_tail, as<const float>(a.scores), as<int32_t>(a.out)};
  const int kk = p.by_score();
  for (int row = 0; row < a.rows; ++row) {
    // topk_kernel's radix select, with the histograms counted in order.
    kv::RadixSelect sel = kv::RadixSelect::start(kk);
    for (int shift = 24; kk > 0 && shift >= 0; shift -= 8) {
      int hist[256] = {};
      for (int pos = p.mid_lo(); pos < p.mid_hi(); ++pos)
        if (sel.candidate(p.key(row, pos))) ++hist[kv::RadixSelect::digit(p.key(row, pos), shift)];
      sel.step(hist, shift);
    }
    // Its position-order pass: the block scans become running counts.
    int written = 0, equal_seen = 0;
    int32_t* out = p.out + static_cast<size_t>(row) * a.k;
    for (int pos = 0; pos < a.n; ++pos) {
      bool keep = p.forced(pos);
      if (!keep && kk > 0) {
        const uint32_t key = p.key(row, pos);
        keep = kv::TopkParams::kept(key, sel, equal_seen);
        equal_seen += key == sel.prefix;
      }
      if (keep) out[written++] = pos;
    }
  }
  return AB_OK;
}

ab_status emulate_kv_dot(const ab_kv_dot_args& a, std::string* error) {
  if (!check(kv::invalid_dot_args(a), error)) return AB_INVALID_ARGUMENT;
  run_each(kv::DotElem{a.batch, a.m, a.n, a.dim, as<const float>(a.a), as<const float>(a.b), as<float>(a.out)});
  return AB_OK;
}

ab_status emulate_kv_compact(const ab_kv_compact_args& a, std::string* error) {
  if (!check(kv::invalid_compact_args(a), error)) return AB_INVALID_ARGUMENT;
  std::vector<uint8_t> flags(static_cast<size_t>(a.heads_kv) * a.len_k, 0);
  std::vector<float> means(2 * static_cast<size_t>(a.heads_kv) * a.head_dim);
  const kv::CompactParams p{a.heads_kv, a.len_k, a.head_dim, a.kept_stride, as<const float>(a.k),
                            as<const float>(a.v), a.kept, a.kept_count, a.key_channel_mask, flags.data(),
                            means.data(), means.data() + means.size() / 2, as<float>(a.k_out), as<float>(a.v_out)};
  run_each(kv::CompactFlag{p});
  run_each(kv::CompactMean{p});
  run_each(kv::CompactGather{p});
  return AB_OK;
}

ab_status emulate_kv_quant_bytes(const ab_kv_quant_args& a, size_t* bytes, std::string* error) {
  if (!check(kv::invalid_quant_args(a, false), error)) return AB_INVALID_ARGUMENT;
  *bytes = static_cast<size_t>(kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, nullptr));
  return AB_OK;
}

ab_status emulate_kv_quantize(const ab_kv_quant_args& a, std::string* error) {
  if (!check(kv::invalid_quant_args(a, true), error)) return AB_INVALID_ARGUMENT;
  auto* cache = as<uint8_t>(a.out);
  auto* heads = reinterpret_cast<kv::QuantHead*>(cache);
  (void)kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, heads);
  int64_t groups[2] = {0, 0}, bytes[2] = {0, 0}, resid = 0;
  for (int j = 0; j < a.heads_kv; ++j) {
    const kv::QuantHead& h = heads[j];
    for (int w = 0; w < 2; ++w) {
      groups[w] = std::max(groups[w], kv::quant_groups(h.t[w], h.nq, h.head_dim));
      bytes[w] = std::max(bytes[w], (static_cast<int64_t>(h.nq) * h.head_dim * h.t[w].bits + 7) / 8 + 1);
    }
    resid = std::max(resid, static_cast<int64_t>(h.len - h.nq) * h.head_dim);
  }
  for (int w = 0; w < 2; ++w) {
    auto params = [&](int64_t per_head) {
      return kv::QuantParams{a.heads_kv, a.len_k, a.head_dim, w, per_head, heads, as<const float>(a.k),
                             as<const float>(a.v), cache};
    };
    run_each(kv::QuantGroupPass{params(groups[w])});
    run_each(kv::QuantPackPass{params(bytes[w])});
    run_each(kv::QuantResidualPass{params(resid)});
  }
  return AB_OK;
}

ab_status emulate_kv_quant_decode(const ab_kv_quant_decode_args& a, std::string* error) {
  if (!check(kv::invalid_quant_decode_args(a), error)) return AB_INVALID_ARGUMENT;
  if (!check(kv::unsupported_quant_decode(a), error)) return AB_UNSUPPORTED;
  std::vector<kv::QuantHead> want(a.heads_kv);
  (void)kv::plan_quant(a.spec, a.heads_kv, a.len_k, a.head_dim, a.len_per_head, want.data());
  if (std::memcmp(want.data(), a.cache, want.size() * sizeof(kv::QuantHead)) != 0) {
    if (error) *error = kv::foreign_cache_message();
    return AB_INVALID_ARGUMENT;
  }
  const kv::QuantDecodeParams p{a.heads_q, a.heads_kv, a.n_q, a.head_dim, a.scale, as<const uint8_t>(a.cache),
                                as<const float>(a.q), as<float>(a.o)};
  const int d = a.head_dim;
  std::vector<float> s(kv::kQuantTile), acc(d);
  for (int h = 0; h < a.heads_q; ++h)
    for (int r = 0; r < a.n_q; ++r) {
      // quant_decode_kernel's block, one tile of kQuantTile tokens at a time.
      const kv::QuantHead& hd = p.head_of(h);
      const float* q = p.q + (static_cast<size_t>(h) * a.n_q + r) * d;
      std::fill(acc.begin(), acc.end(), 0.0f);
      OnlineSoftmax st = OnlineSoftmax::start();
      for (int t0 = 0; t0 < hd.len; t0 += kv::kQuantTile) {
        const int n = std::min(hd.len - t0, kv::kQuantTile);
        float tile_max = neg_inf();
        for (int i = 0; i < n; ++i) tile_max = std::max(tile_max, s[i] = p.logit(hd, q, t0 + i));
        const float alpha = st.rescale(tile_max);
        for (float& x : acc) x *= alpha;
        float mass = 0.0f;
        for (int i = 0; i < n; ++i) {
          const float pr = st.prob(s[i]);
          mass += pr;
          for (int c = 0; c < d; ++c) acc[c] += pr * kv::quant_load(p.cache, hd, 1, t0 + i, c);
        }
        st.add(mass);
      }
      const float inv = st.inv_sum();
      float* o = p.o + (static_cast<size_t>(h) * a.n_q + r) * d;
      for (int c = 0; c < d; ++c) o[c] = acc[c] * inv;
    }
  return AB_OK;
}

}  // namespace attnbench::gpu
