// Exact softmax attention of the query rows of one GQA group at one position (all
// heads that share a KV head) over an explicit list of key rows, on the decode
// microkernels (decode_microkernel.h: 4 rows x 16 keys, each K/V row loaded once for
// all rows). For kernels whose key selection is per position and shared by the group
// (NSA's selected blocks): the 32-lane row kernel (sparse_rows.h) would pay for the
// union of 32 positions' different selections, this pays for one position's keys only.
// Keys are row pointers, so gathered, compressed or windowed keys cost the same.
#pragma once

#include <vector>

#include "attnbench/plugin_abi.h"
#include "isa_namespace.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN

/// K and V of `a` as fp32 rows of `dpad` (head dim rounded up to 16) floats, zero
/// padded: topk::KvF32's rows where the head dim is a multiple of 16, padded copies else.
class KvRowsPadded {
 public:
  explicit KvRowsPadded(const ab_attention_args& a);
  int dpad() const { return dpad_; }
  /// Key row t of KV head h of batch b (dpad floats).
  const float* k(int b, int h, int t) const { return padded_ ? kp_.data() + off(b, h, t) : kv_.k(b, h, t); }
  /// Value row t of KV head h of batch b (dpad floats).
  const float* v(int b, int h, int t) const { return padded_ ? vp_.data() + off(b, h, t) : kv_.v(b, h, t); }

 private:
  size_t off(int b, int h, int t) const { return row_offset(b, h, t, heads_kv_, len_k_, dpad_); }
  topk::KvF32 kv_;
  int heads_kv_, len_k_, dpad_;
  bool padded_;
  std::vector<float> kp_, vp_;
};

/// One group's query rows and scratch; reuse it across positions (one per thread).
class GroupAttention {
 public:
  /// Takes `rows` query rows (q[r * d ..], fp32) with the case's logit scale and softcap.
  void set_queries(const float* q, int rows, int d, float scale, float softcap);
  /// Exact softmax of every row over the n keys krows[j] / values vrows[j] (rows of
  /// dpad floats); normalised outputs to out[r * d ..] (zeros when n = 0). probs, when
  /// given, receives each row's probabilities: probs[r * n + j].
  void attend(const float* const* krows, const float* const* vrows, int n, float* out, float* probs = nullptr);

 private:
  int rows_ = 0, rows4_ = 0, d_ = 0, dpad_ = 0;
  float softcap2_ = 0;
  ScratchF32 q_, sc_, o_, zero_;
};

AB_CPU_NS_END
