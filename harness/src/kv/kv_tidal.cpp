// tidal (TidalDecode, Yang et al. 2024): position-persistent sparse attention. A
// selection layer attends over its full cache and chooses the top-`budget` positions
// per KV head by the attention of the decode queries (summed over the GQA group); every
// following layer up to the next selection layer attends to exactly those positions of
// its own cache, with no scoring of its own. The paper runs full attention in layers 0
// and 1, selects at layer 2 and re-selects at layer 13 of 32; here layer 0 selects and
// layer `select` re-selects. select=-1 (default) picks the middle, floor(num_layers / 2),
// when a layer follows it to reuse the choice (num_layers >= 3), else no re-selection;
// select=0 selects at layer 0 only. Config values are single numbers (kv_config.h), so
// one re-selection layer is given, as the paper uses one.
// TidalDecode selects at every decode step with that step's query. The case executor
// decodes all questions of a case over one cache per layer, so the selection sums the
// scores of the case's decode queries (exactly the paper's rule for a one-question case).
// Bytes: a selection layer reads and keeps its full cache; the others keep `budget`
// tokens per KV head. One layer: layer 0 selects, i.e. full attention.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

class Tidal final : public CrossLayerPolicy {
 public:
  explicit Tidal(const KvParams& p) : CrossLayerPolicy(p) {
    if (select() < -1) throw std::invalid_argument("tidal: select must be a layer index, or -1 for the middle layer");
  }
  int32_t select() const { return static_cast<int32_t>(p_.geti("select", -1)); }
  std::string config() const override {
    return canonical_config("tidal", {{"budget", p_.geti("budget", 256)}, {"select", select()}, {"elem_bytes", elem_bytes()}});
  }
  /// The re-selection layer of a case with `layers` layers, or -1 for none.
  int32_t reselect_layer(int32_t layers) const {
    if (select() >= layers)
      throw std::invalid_argument("tidal: select=" + std::to_string(select()) + " is outside the case's layers 0.." +
                                  std::to_string(layers - 1));
    if (select() >= 0) return select();
    return layers >= 3 ? layers / 2 : -1;
  }
  /// The latest selection layer at or before `layer`.
  int32_t selection_for(const ab_kv_layer& in) const {
    const int32_t r = reselect_layer(std::max(in.num_layers, 1));
    return r >= 0 && in.layer >= r ? r : 0;
  }
  bool is_selection(const ab_kv_layer& in) const { return selection_for(in) == in.layer; }
  uint64_t requested_bytes(const ab_kv_layer& in, int32_t) const override {
    const int32_t tokens = is_selection(in) ? in.len_k : budget_tokens(p_, in.len_k);
    return in.heads_kv * token_bytes(tokens, in.head_dim, elem_bytes());
  }
  void compress_layer(const ab_kv_env& env, const ab_kv_layer& in, int32_t, CrossLayerContext& ctx,
                      ab_kv_plan& plan) const override {
    validate_layer(in, false);
    const int32_t Lk = in.len_k, budget = budget_tokens(p_, Lk);
    if (is_selection(in)) {
      keep_tokens(plan, in, std::vector<std::vector<int32_t>>(in.heads_kv, all_tokens(Lk)), elem_bytes());
      if (!ctx.q_decode || ctx.n_decode <= 0) return;  // nothing to select with: a later layer refuses
      if (budget >= Lk) {
        ctx.selection.assign(in.heads_kv, all_tokens(Lk));
      } else {
        KvPrimitives prims(env);
        const KvBuffer score = decode_scores(prims, in, ctx.q_decode, ctx.n_decode);
        ctx.selection = prims.topk_rows(score.get(), in.heads_kv, Lk, budget);
      }
      ctx.selection_layer = in.layer;
      return;
    }
    const int32_t from = selection_for(in);
    if (ctx.selection_layer != from || static_cast<int32_t>(ctx.selection.size()) != in.heads_kv)
      throw std::invalid_argument("tidal: layer " + std::to_string(in.layer) + " reuses the positions selected at layer " +
                                  std::to_string(from) + ", which did not run with decode queries before it: run the " +
                                  "case's layers in order (compress_layer)");
    keep_tokens(plan, in, ctx.selection, elem_bytes());
  }
};

}  // namespace
std::unique_ptr<KvPolicy> make_tidal(const KvParams& p) { return std::make_unique<Tidal>(p); }
}  // namespace attnbench::kv
