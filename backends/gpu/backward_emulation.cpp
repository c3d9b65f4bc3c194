#include "backward_emulation.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "backward_math.h"
#include "capabilities.h"
#include "kv_addressing.h"
#include "launch_plan.h"

namespace attnbench::gpu {
namespace {

/// D_i = rowsum(dO_i * O_i) of every row, as BwdDeltaItem sums it (columns in order).
std::vector<float> row_deltas(const ab_attention_args& a, const BackwardTensors& t) {
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  std::vector<float> delta(rows);
  for (size_t r = 0; r < rows; ++r) {
    float acc = 0.0f;
    for (int c = 0; c < a.head_dim; ++c) acc += t.d_o[r * a.head_dim + c] * t.o[r * a.head_dim + c];
    delta[r] = acc;
  }
  return delta;
}

/// One block of flash_bwd_kernel: keys [key0, key0 + kKeys) of (b, hk), query tiles of
/// kRows rows from queries_for_keys, P and dS per tile, then the dK / dV sums and the dQ
/// additions in the kernel's order within the block.
template <int DMAX>
void flash_backward_block(const ab_attention_args& a, const BackwardTensors& t, const std::vector<float>& delta,
                          std::vector<float>& dq_acc, int b, int hk, int key0) {
  using Tile = BwdTile<DMAX>;
  constexpr int BC = Tile::kKeys, BR = Tile::kRows;
  const int d = a.head_dim, lq = a.len_q, lk = a.len_k, group = a.heads_q / a.heads_kv;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, 0.0f};
  const ContiguousKv kv{a.heads_kv, lk, d};
  std::vector<float> acc_k(static_cast<size_t>(BC) * d, 0.0f), acc_v(acc_k.size(), 0.0f);
  std::vector<float> p(BR * BC), ds(BR * BC);
  const KeyRange rows = queries_for_keys(mask, key0, std::min(key0 + BC, lk), lq, lk);
  for (int h = hk * group; h < (hk + 1) * group; ++h)
    for (int r0 = rows.lo; r0 < rows.hi; r0 += BR) {
      const int tile_rows = std::min(BR, rows.hi - r0);
      for (int i = 0; i < BR; ++i)
        for (int j = 0; j < BC; ++j) {
          const int row = r0 + i, key = key0 + j;
          const bool vis = i < tile_rows && key < lk && mask.visible(row, key, lq, lk);
          float qk = 0.0f, gv = 0.0f;
          if (vis) {
            const size_t qo = q_row_offset(b, h, row, a.heads_q, lq, d), ko = kv.row_offset(b, hk, key);
            for (int c = 0; c < d; ++c) {
              qk += t.q[qo + c] * t.k[ko + c];
              gv += t.d_o[qo + c] * t.v[ko + c];
            }
          }
          const size_t r = vis ? (static_cast<size_t>(b) * a.heads_q + h) * lq + row : 0;
          const BwdPair pr = bwd_p_ds(qk, gv, logits, vis ? t.lse[r] : 0.0f, vis ? delta[r] : 0.0f, vis);
          p[i * BC + j] = pr.p;
          ds[i * BC + j] = pr.ds;
        }
      for (int i = 0; i < tile_rows; ++i) {
        const size_t qo = q_row_offset(b, h, r0 + i, a.heads_q, lq, d);
        for (int j = 0; j < BC && key0 + j < lk; ++j)
          for (int c = 0; c < d; ++c) {
            acc_v[static_cast<size_t>(j) * d + c] += p[i * BC + j] * t.d_o[qo + c];
            acc_k[static_cast<size_t>(j) * d + c] += ds[i * BC + j] * t.q[qo + c];
          }
        for (int c = 0; c < d; ++c) {
          float s = 0.0f;
          for (int j = 0; j < BC && key0 + j < lk; ++j) s += ds[i * BC + j] * t.k[kv.row_offset(b, hk, key0 + j) + c];
          dq_acc[qo + c] += s * a.scale;
        }
      }
    }
  for (int j = 0; j < BC && key0 + j < lk; ++j) {
    const size_t ko = kv.row_offset(b, hk, key0 + j);
    for (int c = 0; c < d; ++c) {
      t.d_k[ko + c] = acc_k[static_cast<size_t>(j) * d + c] * a.scale;
      t.d_v[ko + c] = acc_v[static_cast<size_t>(j) * d + c];
    }
  }
}

template <int DMAX>
void flash_backward(const ab_attention_args& a, const BackwardTensors& t) {
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  std::vector<float> dq_acc(rows * a.head_dim, 0.0f);  // the memset accumulator
  if (a.len_k > 0 && a.len_q > 0) {
    const std::vector<float> delta = row_deltas(a, t);
    const int blocks = ceil_div(a.len_k, BwdTile<DMAX>::kKeys);
    for (int b = 0; b < a.batch; ++b)
      for (int hk = 0; hk < a.heads_kv; ++hk)
        for (int kb = 0; kb < blocks; ++kb)
          flash_backward_block<DMAX>(a, t, delta, dq_acc, b, hk, kb * BwdTile<DMAX>::kKeys);
  } else if (a.len_k > 0) {  // no queries: the plugin clears dK and dV
    std::fill_n(t.d_k, static_cast<size_t>(a.batch) * a.heads_kv * a.len_k * a.head_dim, 0.0f);
    std::fill_n(t.d_v, static_cast<size_t>(a.batch) * a.heads_kv * a.len_k * a.head_dim, 0.0f);
  }
  std::copy(dq_acc.begin(), dq_acc.end(), t.d_q);  // BwdConvertItem
}

}  // namespace

void emulate_flash_backward(const ab_attention_args& a, const BackwardTensors& t) {
  if (simt_dmax(a.head_dim) == 64) flash_backward<64>(a, t);
  else flash_backward<128>(a, t);
}

void emulate_naive_backward(const ab_attention_args& a, const BackwardTensors& t) {
  const int d = a.head_dim, lq = a.len_q, lk = a.len_k, group = a.heads_q / a.heads_kv;
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const LogitsHook logits{a.scale, 0.0f};
  const ContiguousKv kv{a.heads_kv, lk, d};
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * lq;
  const std::vector<float> delta = row_deltas(a, t);
  std::vector<float> p(rows * lk), ds(rows * lk);  // naive_bwd_scores_kernel
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_q; ++h)
      for (int i = 0; i < lq; ++i) {
        const size_t r = (static_cast<size_t>(b) * a.heads_q + h) * lq + i, qo = r * d;
        const int hk = kv_head_of(h, a.heads_q, a.heads_kv);
        for (int j = 0; j < lk; ++j) {
          const size_t ko = kv.row_offset(b, hk, j);
          float qk = 0.0f, gv = 0.0f;
          for (int c = 0; c < d; ++c) {
            qk += t.q[qo + c] * t.k[ko + c];
            gv += t.d_o[qo + c] * t.v[ko + c];
          }
          const BwdPair pr = bwd_p_ds(qk, gv, logits, t.lse[r], delta[r], mask.visible(i, j, lq, lk));
          p[r * lk + j] = pr.p;
          ds[r * lk + j] = pr.ds;
        }
        for (int c = 0; c < d; ++c) {  // naive_bwd_dq_kernel
          float acc = 0.0f;
          for (int j = 0; j < lk; ++j) acc += ds[r * lk + j] * t.k[kv.row_offset(b, hk, j) + c];
          t.d_q[qo + c] = acc * a.scale;
        }
      }
  for (int b = 0; b < a.batch; ++b)  // naive_bwd_dkv_kernel
    for (int hk = 0; hk < a.heads_kv; ++hk)
      for (int j = 0; j < lk; ++j)
        for (int c = 0; c < d; ++c) {
          float acc_k = 0.0f, acc_v = 0.0f;
          for (int h = hk * group; h < (hk + 1) * group; ++h)
            for (int i = 0; i < lq; ++i) {
              const size_t r = (static_cast<size_t>(b) * a.heads_q + h) * lq + i;
              acc_k += ds[r * lk + j] * t.q[r * d + c];
              acc_v += p[r * lk + j] * t.d_o[r * d + c];
            }
          const size_t ko = kv.row_offset(b, hk, j);
          t.d_k[ko + c] = acc_k * a.scale;
          t.d_v[ko + c] = acc_v;
        }
}

}  // namespace attnbench::gpu
