// `reference`: the fp64 oracle behind the plugin ABI, for checking the plumbing
// (upload, layouts, dtype conversion, download). Never timed against the others.
#include <tbb/parallel_for.h>

#include <vector>

#include "isa_kernels.h"
#include "reference_attention.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

/// K or V as contiguous fp32 [batch, heads_kv, len_k, d], gathering pages if paged
/// (d = the tensor's row width: head_dim for K, dv for V).
std::vector<float> gather_kv_f32(const ab_attention_args& a, const void* base, int d) {
  std::vector<float> out(static_cast<size_t>(a.batch) * a.heads_kv * a.len_k * d, 0.0f);
  const auto* table = host_ptr<const int32_t>(a.block_table);
  for (int b = 0; b < a.batch; ++b)
    for (int h = 0; h < a.heads_kv; ++h)
      for (int t = 0; t < a.len_k; ++t) {
        size_t src;
        if (a.page_size > 0) {
          const int page = table[static_cast<size_t>(b) * a.max_pages_per_seq + t / a.page_size];
          src = ((static_cast<size_t>(page) * a.heads_kv + h) * a.page_size + t % a.page_size) * d;
          if (t >= len_k_of(a, b)) continue;  // pages past the sequence may be unmapped
        } else {
          src = row_offset(b, h, t, a.heads_kv, a.len_k, d);
        }
        load_row_f32(a.dtype, base, src, out.data() + row_offset(b, h, t, a.heads_kv, a.len_k, d), d);
      }
  return out;
}

}  // namespace

void reference_attention_cpu(const ab_attention_args& a) {
  const int d = a.head_dim, dv = dv_of(a);
  if (a.batch <= 0 || a.len_q <= 0) return;
  std::vector<float> q(static_cast<size_t>(a.batch) * a.heads_q * a.len_q * d);
  load_row_f32(a.dtype, a.q, 0, q.data(), static_cast<int>(q.size()));
  const std::vector<float> k = gather_kv_f32(a, a.k, d);
  const std::vector<float> v = gather_kv_f32(a, a.v, dv);
  ab_attention_args flat = a;  // the oracle reads contiguous KV
  flat.page_size = 0;
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q;
    const int lq = len_q_of(a, b);
    std::vector<RowId> rows;
    for (int i = 0; i < lq; ++i) rows.push_back({b, h, i});
    std::vector<double> out(rows.size() * dv);
    reference_attention_rows(flat, q.data(), k.data(), v.data(), rows, out.data());
    std::vector<float> row(dv);
    for (int i = 0; i < lq; ++i) {
      for (int c = 0; c < dv; ++c) row[c] = static_cast<float>(out[static_cast<size_t>(i) * dv + c]);
      store_row(a.dtype, a.o, row_offset(b, h, i, a.heads_q, a.len_q, dv), row.data(), dv);
    }
  });
}

AB_CPU_NS_END
