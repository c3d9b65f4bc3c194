#include "backward_inputs.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "attnbench/dtype.h"
#include "counter_rng.h"
#include "reference_backward.h"
#include "uniform_tensors.h"

namespace attnbench {
namespace {

// dO's stream: after the forward tensors and the two auxiliary streams (lengths, pages).
constexpr uint64_t kTensorGradO = gen::kTensorAux + 2;

void round_to(ab_dtype t, std::vector<float>& x) {
  if (t == AB_F32) return;
  std::vector<uint16_t> tmp(x.size());
  encode(t, x.data(), tmp.data(), x.size());
  decode(t, tmp.data(), x.data(), x.size());
}

DeviceBuffer upload_floats(Backend& be, ab_dtype t, const std::vector<float>& x) {
  std::vector<uint8_t> bytes(x.size() * dtype_size(t));
  encode(t, x.data(), bytes.data(), x.size());
  DeviceBuffer buf(be, std::max<size_t>(bytes.size(), 1));
  if (!bytes.empty()) be.upload(buf.get(), bytes.data(), bytes.size());
  return buf;
}

}  // namespace

BackwardHostInputs make_backward_inputs(const Shape& s, uint64_t seed, const HostInputs& host,
                                        const ab_attention_args& args) {
  BackwardHostInputs in;
  const size_t rows = static_cast<size_t>(s.batch) * s.heads_q * s.len_q;
  const size_t n = rows * s.head_dim;
  resize_with_huge_pages(in.d_o, n);
  gen::fill_normal({seed, gen::hash_string(s.canonical().c_str()), kTensorGradO}, 1.0f, in.d_o.data(), n);
  round_to(s.dtype, in.d_o);
  in.o_exact.assign(n, 0.0);
  in.lse_exact.assign(rows, -INFINITY);
  // Tasks of kRowsPerTask rows of one (batch, head): the oracle is O(len_k * d) per row,
  // and a one-head case must still use every thread.
  constexpr int kRowsPerTask = 64;
  const int chunks = (s.len_q + kRowsPerTask - 1) / kRowsPerTask;
  tbb::parallel_for(0, s.batch * s.heads_q * chunks, [&](int task) {
    const int bh = task / chunks, i0 = task % chunks * kRowsPerTask;
    const int b = bh / s.heads_q, h = bh % s.heads_q;
    std::vector<RowId> rows;
    for (int i = i0; i < std::min(i0 + kRowsPerTask, effective_len_q(args, b)); ++i) rows.push_back({b, h, i});
    reference_forward_lse_rows(args, host.q.data(), host.k.data(), host.v.data(), rows, in.o_exact.data(),
                               in.lse_exact.data());
  });
  in.o.assign(in.o_exact.begin(), in.o_exact.end());
  round_to(s.dtype, in.o);
  in.lse.assign(in.lse_exact.begin(), in.lse_exact.end());
  return in;
}

DeviceBackwardInputs upload_backward_inputs(Backend& be, const VariantConfig& cfg, const Shape& s,
                                            const HostInputs& host, const BackwardHostInputs& bwd) {
  DeviceBackwardInputs d;
  d.fwd = upload_inputs(be, cfg, s, host);
  d.fwd.o = upload_floats(be, s.dtype, bwd.o);
  d.lse = upload_floats(be, AB_F32, bwd.lse);
  d.d_o = upload_floats(be, s.dtype, bwd.d_o);
  d.q_bytes = host.q.size() * dtype_size(s.dtype);
  d.kv_bytes = host.k.size() * dtype_size(s.dtype);
  d.d_q = DeviceBuffer(be, std::max<size_t>(d.q_bytes, 1));
  d.d_k = DeviceBuffer(be, std::max<size_t>(d.kv_bytes, 1));
  d.d_v = DeviceBuffer(be, std::max<size_t>(d.kv_bytes, 1));
  d.args.fwd = d.fwd.args;
  d.args.fwd.o = d.fwd.o.get();
  d.args.fwd.lse = d.lse.get();
  d.args.d_o = d.d_o.get();
  d.args.d_q = d.d_q.get();
  d.args.d_k = d.d_k.get();
  d.args.d_v = d.d_v.get();
  return d;
}

void poison_gradients(Backend& be, DeviceBackwardInputs& d) {
  if (d.q_bytes) be.fill(d.d_q.get(), 0xFF, d.q_bytes);
  if (d.kv_bytes) be.fill(d.d_k.get(), 0xFF, d.kv_bytes);
  if (d.kv_bytes) be.fill(d.d_v.get(), 0xFF, d.kv_bytes);
}

}  // namespace attnbench
