#include "flash_bias.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <string>
#include <vector>

#include "isa_kernels.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxRank = 64;

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "flash: " + why}; }

thread_local ScratchF32 tls_q_bias;  // Q with its first d columns scaled, of the calling thread

}  // namespace

Check flash_bias_supports(const ab_attention_args& a, const VariantOptions& options) {
  int v[2];
  if (Check c = topk::parse_int_options("flash", options, {{"bias_rank", 0, 1, kMaxRank}, {"alibi", 0, 0, 1}}, v);
      !c.ok())
    return c;
  const int rank = v[0];
  if (rank == 0) return refuse("options need bias_rank (flash alone takes no options)");
  if (v[1] == 1 && rank != 2) return refuse("alibi=1 is exactly rank 2: bias_rank must be 2");
  if (a.head_dim <= rank)
    return refuse("Q and K rows hold d + bias_rank values: head_dim " + std::to_string(a.head_dim) +
                  " must exceed bias_rank " + std::to_string(rank));
  if (dv_of(a) != a.head_dim - rank)
    return refuse("V and O have d = head_dim - bias_rank = " + std::to_string(a.head_dim - rank) +
                  " columns: head_dim_v must be that (got " + std::to_string(dv_of(a)) + ")");
  return {};
}

void flash_bias_run(const ab_attention_args& a, const VariantOptions& options) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int width = a.head_dim, d = dv_of(a);
  (void)options;
  const size_t rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  const size_t es = dtype_size(a.dtype);
  void* q = tls_q_bias.get(std::max<size_t>(1, (rows * width * es + 3) / 4));
  // Row by row: widen, scale the first d values by s (the bias columns stay as given), store.
  tbb::parallel_for(size_t{0}, rows, [&](size_t r) {
    thread_local std::vector<float> row;
    row.resize(width);
    load_row_f32(a.dtype, a.q, r * width, row.data(), width);
    for (int t = 0; t < d; ++t) row[t] *= a.scale;
    store_row(a.dtype, q, r * width, row.data(), width);
  });
  ab_attention_args b = a;
  b.q = static_cast<ab_buffer>(q);
  b.scale = 1.0f;
  flash_attention(b);
}

AB_CPU_NS_END
