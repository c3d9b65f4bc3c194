// Backward-pass entry of the CPU kernel library: which variants have one, what they
// refuse (with the reason), and dispatch to the active ISA level's kernels.
// Level-independent: compiled once, for the baseline.
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "cpu_kernels.h"
#include "isa_table.h"

namespace attnbench::cpu {
namespace {

// P and dS materialised by naive: 2 x len_q x len_k fp32 per head, capped like the
// forward's single score matrix.
constexpr double kNaiveMaxMatrixBytes = 4.0 * (1ull << 30);

Check unsupported(std::string why) { return {AB_UNSUPPORTED, std::move(why)}; }

bool is(const char* v, const char* name) { return v && std::strcmp(v, name) == 0; }

}  // namespace

Check supports_backward(const char* variant, const ab_attention_args& a) {
  if (!is(variant, "naive") && !is(variant, "flash"))
    return unsupported(std::string("cpu backend has a backward pass for naive and flash only, not '") +
                       (variant ? variant : "(null)") + "'");
  if (Check c = validate_args(a); !c.ok()) return c;
  const std::string v = variant;
  if (a.page_size > 0) return unsupported(v + " backward reads contiguous KV only (page_size > 0)");
  if (a.seq_len_q || a.seq_len_k) return unsupported(v + " backward does not implement varlen batches");
  if (a.softcap > 0.0f) return unsupported(v + " backward does not implement softcap");
  if (a.head_dim_v != 0 && a.head_dim_v != a.head_dim)
    return unsupported(v + " backward needs head_dim_v == head_dim");
  if (v == "naive" && 8.0 * a.len_q * a.len_k > kNaiveMaxMatrixBytes)
    return unsupported("naive backward materialises P and dS, 2 x len_q x len_k fp32 per head (" +
                       std::to_string(static_cast<long long>(8.0 * a.len_q * a.len_k)) + " bytes), above its 4 GiB cap");
  return {};
}

Check run_backward_variant(const char* variant, const ab_backward_args& g) {
  if (Check c = supports_backward(variant, g.fwd); !c.ok()) return c;
  const ab_attention_args& a = g.fwd;
  if (a.batch > 0 && a.len_q > 0 && (!a.q || !a.o || !a.lse || !g.d_o || !g.d_q))
    return {AB_INVALID_ARGUMENT, "backward needs q, o, lse, d_o and d_q buffers"};
  if (a.batch > 0 && a.len_k > 0 && (!a.k || !a.v || !g.d_k || !g.d_v))
    return {AB_INVALID_ARGUMENT, "backward needs k, v, d_k and d_v buffers"};
  try {
    const IsaKernels& k = active_kernels();
    if (is(variant, "naive")) k.naive_backward(g);
    else k.flash_backward(g);
  } catch (const std::bad_alloc&) {
    return {AB_OUT_OF_MEMORY, std::string(variant) + " backward: out of host memory"};
  } catch (const std::exception& e) {
    return {AB_INTERNAL_ERROR, std::string(variant) + " backward: " + e.what()};
  }
  return {};
}

}  // namespace attnbench::cpu
