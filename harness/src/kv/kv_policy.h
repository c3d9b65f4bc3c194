// A KV-cache compression method as the harness sees it: a policy over one backend's KV
// primitives (ab_kv_ops) that answers with a plan (kept slots per head, an optional key
// channel mask and quantisation spec, bytes per head). Built-in methods (this folder)
// and method plugins (ab_kv_method tables, adapted by plugin_policy.h) implement the same
// interface, and one executor (kv_plan_executor.h) turns every plan into a cache on the
// backend and decodes over it, so all methods are measured the same way.
#pragma once

#include <attnbench/kv_method_abi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace attnbench::kv {

/// What the layers of one case hand on to later layers, for cross-layer methods (cla
/// shares one cache across a group of layers; tidal reuses the token selection of a
/// selection layer). Policies stay stateless: the case executor owns one context per
/// case and passes it to compress_layer on layers 0, 1, ..., num_layers - 1 in order.
/// Chosen over a policy call that takes every layer of a case at once because the
/// executor streams layers one at a time (a trace may hold dozens) and every per-layer
/// method keeps its one-layer interface untouched (it never sees the context).
struct CrossLayerContext {
  // Set by the executor before each layer.
  ab_buffer q_decode = nullptr;  ///< f32 [heads_q, n_decode, head_dim]: the layer's decode queries (position len_k)
  int32_t n_decode = 0;
  // Set by the policy for this layer (the executor resets it to -1 first).
  /// >= 0: this layer stores no cache of its own and decodes over the cache of that
  /// earlier layer, which must be the latest layer that stored one (the executor keeps
  /// only that one); its plan is then ignored and its bytes are 0.
  int32_t shared_from = -1;
  // Carried across layers by the policy.
  std::vector<std::vector<int32_t>> selection;  ///< ascending positions per KV head chosen by a selection layer
  int32_t selection_layer = -1;                 ///< the layer that chose them, -1 before any
};

/// A compression method. Implementations are stateless: one instance per config.
class KvPolicy {
 public:
  virtual ~KvPolicy() = default;
  /// Method name ("snapkv").
  virtual std::string name() const = 0;
  /// Canonical config string: name plus every parameter in a fixed order.
  virtual std::string config() const = 0;
  /// True when compress() reads layer.q_context.
  virtual bool needs_queries() const = 0;
  /// Bytes the configuration asks for on this layer shape, from the configuration alone.
  virtual uint64_t requested_bytes(const ab_kv_layer& layer, int32_t elem_bytes) const = 0;
  /// Fills plan (sized by the caller for the layer) using env's primitives; throws
  /// std::invalid_argument for bad options, BackendError-like std::runtime_error when a
  /// primitive fails (AB_UNSUPPORTED keeps its status, see KvUnsupported).
  virtual void compress(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes, ab_kv_plan& plan) const = 0;
  /// True for a method whose layers depend on earlier layers of the case (cla, tidal):
  /// it must run through compress_layer with one context, layers in order. Method
  /// plugins are per layer (the C ABI has no context), so cross-layer methods are built in.
  virtual bool cross_layer() const { return false; }
  /// compress() for layer `layer.layer` of a case, reading and updating the case's
  /// cross-layer context; per-layer methods ignore the context.
  virtual void compress_layer(const ab_kv_env& env, const ab_kv_layer& layer, int32_t elem_bytes,
                              CrossLayerContext& /*ctx*/, ab_kv_plan& plan) const {
    compress(env, layer, elem_bytes, plan);
  }
};

/// Raised when the backend lacks a primitive (or a case of one) the method needs.
struct KvUnsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Builds a method from its config string, built-ins first, then methods loaded from
/// plugins (register_plugin_methods); throws std::invalid_argument on unknown names.
std::unique_ptr<KvPolicy> make_kv_policy(std::string_view config);

/// Every method name make_kv_policy accepts, with a one-line description each.
struct KvMethodInfo {
  std::string name, description, options, origin;  ///< origin: "built-in" or the plugin's path
};
std::vector<KvMethodInfo> kv_methods();

/// Makes a policy from a config string whose name is the registered method's.
using KvPolicyFactory = std::function<std::unique_ptr<KvPolicy>(std::string_view config)>;

/// Adds a method (the method-plugin loader calls this); throws std::invalid_argument when
/// the name is already taken, so a plugin cannot shadow a built-in.
void register_kv_method(KvMethodInfo info, KvPolicyFactory make);

/// Loads the method plugins on the plugin search path (libattnbench-method-*.so; see
/// harness/src/plugins/method_plugin_loader.h) and registers their methods, once per
/// process: later calls return at once. It runs before main() in every program that links
/// the loader (the attnbench CLI and its workers), so both see the same methods; a lookup
/// path that may run without it (e.g. make_kv_policy) can call it first at no cost.
void register_plugin_methods();

}  // namespace attnbench::kv
