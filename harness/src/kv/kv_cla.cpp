// cla (Cross-Layer Attention, Brandon et al. 2024): groups of `share` adjacent layers
// share one KV cache, the first layer's: layer l decodes over the cache of layer
// l - (l % share), so KV memory per token falls by `share` on top of what GQA saves.
// Bytes: the first layer of a group stores its full cache, the others store nothing.
// CLA is trained so that the later layers of a group produce queries (and the first
// layer keys) that work together. The recall generator, like a trace of a model trained
// without CLA, gives every layer its own K/V, so a later layer's queries read another
// layer's keys here: its accuracy, mass kept and output error (each measured against
// the layer's own full attention) are the lower bound of sharing without training, not
// what a CLA-trained model reaches. One layer, or share=1: every layer stores its own
// cache, the same as full.
#include <stdexcept>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Cla final : public CrossLayerPolicy {
 public:
  explicit Cla(const KvParams& p) : CrossLayerPolicy(p) {
    if (share() < 1) throw std::invalid_argument("cla: share must be >= 1 (layers per shared cache)");
  }
  int32_t share() const { return static_cast<int32_t>(p_.geti("share", 2)); }
  std::string config() const override { return canonical_config("cla", {{"share", share()}, {"elem_bytes", elem_bytes()}}); }
  /// The layer whose cache `layer` decodes over: the first of its group.
  int32_t source(const ab_kv_layer& in) const { return in.layer - in.layer % share(); }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    return source(in) == in.layer ? in.heads_kv * token_bytes(in.len_k, in.head_dim, elem_bytes()) : 0;
  }
  void compress_layer(const ab_kv_env&, const ab_kv_layer& in, int32_t, CrossLayerContext& ctx, ab_kv_plan& plan) const override {
    validate_layer(in, false);
    if (source(in) != in.layer) {
      ctx.shared_from = source(in);
      return;
    }
    keep_tokens(plan, in, std::vector<std::vector<int32_t>>(in.heads_kv, all_tokens(in.len_k)), elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_cla(const KvParams& p) { return std::make_unique<Cla>(p); }
}  // namespace attnbench::kv
