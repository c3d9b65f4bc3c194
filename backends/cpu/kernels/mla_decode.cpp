#include "mla_decode.h"

#include <string>

#include "isa_kernels.h"
#include "tensor_access.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxQueries = 16;  // decode's bound

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "mla: " + why}; }

}  // namespace

Check mla_supports(const ab_attention_args& a, const VariantOptions& options) {
  int v[2];
  if (Check c = topk::parse_int_options("mla", options, {{"latent", 512, 1, 1024}, {"rope", 64, 0, 1024}}, v);
      !c.ok())
    return c;
  const int latent = v[0], rope = v[1];
  if (a.heads_kv != 1)
    return refuse("one latent vector per token is shared by all heads: heads_kv must be 1 (got " +
                  std::to_string(a.heads_kv) + ")");
  if (a.head_dim != latent + rope)
    return refuse("head_dim " + std::to_string(a.head_dim) + " must equal latent + rope = " +
                  std::to_string(latent) + " + " + std::to_string(rope));
  if (dv_of(a) != latent)
    return refuse("the value is the latent part of K: head_dim_v must be latent = " + std::to_string(latent) +
                  " (got " + std::to_string(dv_of(a)) + ")");
  if (a.len_q > kMaxQueries)
    return refuse("decode kernel: len_q <= " + std::to_string(kMaxQueries) + " (got " + std::to_string(a.len_q) + ")");
  return {};
}

void mla_run(const ab_attention_args& a, const VariantOptions&) {
  // Values are the first dv columns of the K rows (row stride head_dim); a.v is never read.
  decode_attention_values(a, ValueSource{a.k, a.head_dim});
}

AB_CPU_NS_END
