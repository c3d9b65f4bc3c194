#include "approx_mosa.h"

#include <tbb/parallel_for.h>

#include <cstring>
#include <random>
#include <vector>

#include "approx_limits.h"
#include "isa_kernels.h"
#include "pair_count.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr unsigned kRouterSeed = 0x4D6F5341;  // "MoSA"

Check parse(const VariantOptions& options, int* k) {
  return topk::parse_int_options("mosa", options, {{"k", 1024, 1, 1 << 30}}, k);
}

ab_buffer as_buffer(unsigned char* bytes) { return reinterpret_cast<ab_buffer>(bytes); }

}  // namespace

std::vector<float> mosa_router(int heads, int d) {
  std::vector<float> w(static_cast<size_t>(heads) * d);
  std::mt19937 rng(kRouterSeed);
  std::normal_distribution<float> normal;
  for (float& x : w) x = normal(rng);
  return w;
}

Check mosa_supports(const ab_attention_args& a, const VariantOptions& options) {
  int k = 0;
  if (Check c = parse(options, &k); !c.ok()) return c;
  return approx_limits("mosa", a, {.causal = true, .softcap = true, .varlen = false, .self = true});
}

void mosa_run(const ab_attention_args& a, const VariantOptions& options) {
  int k_opt = 0;
  parse(options, &k_opt);
  if (a.batch <= 0 || a.len_q <= 0) return;
  const int d = a.head_dim, T = a.len_q, k = std::min(k_opt, T), H = a.heads_q;
  const size_t es = dtype_size(a.dtype), row_bytes = es * d;
  const size_t heads = static_cast<size_t>(a.batch) * H;
  const std::vector<float> router = mosa_router(H, d);
  std::vector<std::vector<int>> picked(heads);
  // The gathered tensors live in this thread's reusable scratch: fresh pages per call
  // would cost more than the attention (a page fault per 4 KiB).
  const size_t bytes = ab_tensor_bytes(a.dtype, heads * k, d);
  thread_local ScratchF32 scratch;
  auto* base = reinterpret_cast<unsigned char*>(scratch.get(bytes));  // 4 tensors: 4 * bytes bytes
  unsigned char* q = base;
  unsigned char* kk = base + bytes;
  unsigned char* v = base + 2 * bytes;
  unsigned char* o = base + 3 * bytes;
  const auto* qs = host_ptr<const unsigned char>(a.q);
  const auto* ks = host_ptr<const unsigned char>(a.k);
  const auto* vs = host_ptr<const unsigned char>(a.v);

  // Routing and gather: each head's top-k tokens by router score, their Q, K, V rows packed.
  tbb::parallel_for(size_t(0), heads, [&](size_t bh) {
    const int b = static_cast<int>(bh / H), h = static_cast<int>(bh % H), hk = kv_head_of(h, H, a.heads_kv);
    std::vector<float> score(T), key(d);
    for (int t = 0; t < T; ++t) {
      load_row_f32(a.dtype, ks, row_offset(b, hk, t, a.heads_kv, T, d), key.data(), d);
      score[t] = topk::dot(key.data(), router.data() + static_cast<size_t>(h) * d, d);
    }
    picked[bh] = topk::select_top_k(score.data(), T, k);
    for (int r = 0; r < k; ++r) {
      const int t = picked[bh][r];
      const size_t dst = (bh * k + r) * row_bytes;
      std::memcpy(q + dst, qs + row_offset(b, h, t, H, T, d) * es, row_bytes);
      std::memcpy(kk + dst, ks + row_offset(b, hk, t, a.heads_kv, T, d) * es, row_bytes);
      std::memcpy(v + dst, vs + row_offset(b, hk, t, a.heads_kv, T, d) * es, row_bytes);
    }
  });
  count_pairs(heads * (a.causal ? static_cast<uint64_t>(k) * (k + 1) / 2 : static_cast<uint64_t>(k) * k));

  ab_attention_args sel = a;
  sel.heads_kv = H;
  sel.len_q = sel.len_k = k;
  sel.q = as_buffer(q);
  sel.k = as_buffer(kk);
  sel.v = as_buffer(v);
  sel.o = as_buffer(o);
  sel.lse = nullptr;
  flash_attention(sel);

  // Scatter: selected rows get their output, the others zeros (the residual carries them).
  auto* out = host_ptr<unsigned char>(a.o);
  tbb::parallel_for(size_t(0), heads, [&](size_t bh) {
    const int b = static_cast<int>(bh / H), h = static_cast<int>(bh % H);
    std::memset(out + row_offset(b, h, 0, H, T, d) * es, 0, row_bytes * T);
    for (int r = 0; r < k; ++r)
      std::memcpy(out + row_offset(b, h, picked[bh][r], H, T, d) * es, o + (bh * k + r) * row_bytes, row_bytes);
  });
}

AB_CPU_NS_END
