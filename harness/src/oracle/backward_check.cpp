#include "backward_check.h"

#include <algorithm>
#include <cmath>

#include "attnbench/dtype.h"
#include "counter_rng.h"
#include "output_check.h"
#include "reference_backward.h"

namespace attnbench {
namespace {

std::vector<float> decoded(ab_dtype t, const std::vector<uint8_t>& raw, size_t n) {
  std::vector<float> out(n);
  if (n) decode(t, raw.data(), out.data(), n);
  return out;
}

int64_t count_nonfinite(const std::vector<float>& x) {
  return std::count_if(x.begin(), x.end(), [](float e) { return !std::isfinite(e); });
}

/// Squared error and squared reference norm, accumulated element by element.
struct L2 {
  double err2 = 0, ref2 = 0, max_abs = 0;
  void add(double got, double ref) {
    err2 += (got - ref) * (got - ref);
    ref2 += ref * ref;
    max_abs = std::max(max_abs, std::fabs(got - ref));
  }
  double rel() const { return ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2); }
};

/// Key rows a sampled check compares: the first and last, the rest drawn from `seed`.
std::vector<KeyId> sample_keys(const Shape& s, uint64_t seed, int max_rows) {
  std::vector<KeyId> keys;
  const uint64_t count = static_cast<uint64_t>(s.batch) * s.heads_kv * s.len_k;
  if (count == 0) return keys;
  auto key_at = [&](uint64_t n) {
    return KeyId{static_cast<int32_t>(n / (static_cast<uint64_t>(s.heads_kv) * s.len_k)),
                 static_cast<int32_t>(n / s.len_k % s.heads_kv), static_cast<int32_t>(n % s.len_k)};
  };
  if (count <= static_cast<uint64_t>(max_rows)) {
    for (uint64_t n = 0; n < count; ++n) keys.push_back(key_at(n));
    return keys;
  }
  keys = {key_at(0), key_at(count - 1)};
  const gen::StreamKey key{seed, count, 98};
  for (int i = 2; i < max_rows; ++i) keys.push_back(key_at(key.bits(i) % count));
  return keys;
}

size_t q_offset(const Shape& s, RowId r) {
  return ((static_cast<size_t>(r.b) * s.heads_q + r.h) * s.len_q + r.i) * s.head_dim;
}
size_t k_offset(const Shape& s, KeyId k) {
  return ((static_cast<size_t>(k.b) * s.heads_kv + k.hk) * s.len_k + k.j) * s.head_dim;
}

}  // namespace

double GradientCheck::worst() const { return std::max({rel_dq, rel_dk, rel_dv}); }

GradientCheck check_gradients(const Shape& s, const ab_attention_args& a, const HostInputs& host,
                              const BackwardHostInputs& bwd, const std::vector<uint8_t>& dq_raw,
                              const std::vector<uint8_t>& dk_raw, const std::vector<uint8_t>& dv_raw,
                              CheckMode mode, uint64_t seed, int max_rows) {
  GradientCheck r;
  const std::vector<float> dq = decoded(s.dtype, dq_raw, host.q.size());
  const std::vector<float> dk = decoded(s.dtype, dk_raw, host.k.size());
  const std::vector<float> dv = decoded(s.dtype, dv_raw, host.v.size());
  r.nonfinite = count_nonfinite(dq) + count_nonfinite(dk) + count_nonfinite(dv);
  if (mode == CheckMode::kNone) return r;
  const int d = s.head_dim;
  L2 eq, ek, ev;
  if (mode == CheckMode::kFull) {
    std::vector<double> rq(dq.size()), rk(dk.size()), rv(dv.size());
    reference_backward(a, host.q.data(), host.k.data(), host.v.data(), bwd.d_o.data(), rq.data(), rk.data(),
                       rv.data());
    for (size_t i = 0; i < rq.size(); ++i) eq.add(dq[i], rq[i]);
    for (size_t i = 0; i < rk.size(); ++i) ek.add(dk[i], rk[i]), ev.add(dv[i], rv[i]);
    r.rows_checked = static_cast<int64_t>(rq.size() / std::max(d, 1));
    r.keys_checked = static_cast<int64_t>(rk.size() / std::max(d, 1));
  } else {
    const std::vector<RowId> rows = checked_rows(s, a, CheckMode::kSampled, seed, max_rows);
    std::vector<double> rq(rows.size() * d);
    reference_backward_dq_rows(a, host.q.data(), host.k.data(), host.v.data(), bwd.d_o.data(), rows, rq.data());
    for (size_t n = 0; n < rows.size(); ++n)
      for (int c = 0; c < d; ++c) eq.add(dq[q_offset(s, rows[n]) + c], rq[n * d + c]);
    const std::vector<KeyId> keys = sample_keys(s, seed, max_rows);
    std::vector<double> rk(keys.size() * d), rv(keys.size() * d);
    reference_backward_kv_rows(a, host.q.data(), host.k.data(), host.v.data(), bwd.d_o.data(), bwd.o_exact.data(),
                               bwd.lse_exact.data(), keys, rk.data(), rv.data());
    for (size_t n = 0; n < keys.size(); ++n)
      for (int c = 0; c < d; ++c) {
        ek.add(dk[k_offset(s, keys[n]) + c], rk[n * d + c]);
        ev.add(dv[k_offset(s, keys[n]) + c], rv[n * d + c]);
      }
    r.rows_checked = static_cast<int64_t>(rows.size());
    r.keys_checked = static_cast<int64_t>(keys.size());
  }
  r.rel_dq = eq.rel();
  r.rel_dk = ek.rel();
  r.rel_dv = ev.rel();
  r.max_abs_error = std::max({eq.max_abs, ek.max_abs, ev.max_abs});
  return r;
}

}  // namespace attnbench
