#include "approx_agent.h"

#include <tbb/parallel_for.h>

#include <vector>

#include "approx_limits.h"
#include "isa_kernels.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

Check parse(const VariantOptions& options, int* agents) {
  return topk::parse_int_options("agent", options, {{"agents", 64, 1, 1 << 20}}, agents);
}

/// ab_buffer view of a host byte vector (the CPU backend's buffers are host pointers).
ab_buffer as_buffer(unsigned char* bytes) { return reinterpret_cast<ab_buffer>(bytes); }

}  // namespace

Check agent_supports(const ab_attention_args& a, const VariantOptions& options) {
  int agents = 0;
  if (Check c = parse(options, &agents); !c.ok()) return c;
  if (a.causal)
    return {AB_UNSUPPORTED, "agent: non-causal only (agents pool the queries of every position, so each output "
                            "would see every key; the paper defines agent attention without a causal mask)"};
  return approx_limits("agent", a, {});
}

void agent_run(const ab_attention_args& a, const VariantOptions& options) {
  int agents = 0;
  parse(options, &agents);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, L = a.len_q, n = std::min(agents, L), H = a.heads_q;
  const size_t rows = static_cast<size_t>(a.batch) * H * n;
  // A and V_A in this thread's reusable scratch (fresh pages per call cost a fault per 4 KiB).
  const size_t bytes = ab_tensor_bytes(a.dtype, rows, d);
  thread_local ScratchF32 scratch;
  auto* pooled = reinterpret_cast<unsigned char*>(scratch.get(bytes / 2));  // 2 tensors: 2 * bytes bytes
  unsigned char* agent_v = pooled + bytes;

  // Average pooling of the queries into the agents, in fp32, stored in the case's dtype.
  tbb::parallel_for(size_t(0), rows, [&](size_t r) {
    const int ag = static_cast<int>(r % n), bh = static_cast<int>(r / n), b = bh / H, h = bh % H;
    const int lo = static_cast<int>(static_cast<long long>(ag) * L / n);
    const int hi = static_cast<int>(static_cast<long long>(ag + 1) * L / n);
    std::vector<float> sum(d, 0.0f), row(d);
    for (int i = lo; i < hi; ++i) {
      load_row_f32(a.dtype, host_ptr<const void>(a.q), row_offset(b, h, i, H, L, d), row.data(), d);
      for (int t = 0; t < d; ++t) sum[t] += row[t];
    }
    const float inv = 1.0f / static_cast<float>(hi - lo);
    for (float& x : sum) x *= inv;
    store_row(a.dtype, pooled, r * d, sum.data(), d);
  });

  // Aggregation: the agents attend every key of their KV head.
  ab_attention_args agg = a;
  agg.q = as_buffer(pooled);
  agg.o = as_buffer(agent_v);
  agg.len_q = n;
  agg.lse = nullptr;
  flash_attention(agg);

  // Broadcast: every query attends its head's agents, whose values are V_A.
  ab_attention_args bc = a;
  bc.k = as_buffer(pooled);
  bc.v = as_buffer(agent_v);
  bc.heads_kv = H;
  bc.len_k = n;
  bc.lse = nullptr;
  flash_attention(bc);
}

AB_CPU_NS_END
