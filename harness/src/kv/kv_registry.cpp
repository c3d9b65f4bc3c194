// The method registry: the 19 built-in policies, then methods added at run time
// (register_kv_method, called by the method-plugin loader). Guarded by one mutex, since
// plugins may be registered while another thread plans cases.
#include <map>
#include <mutex>
#include <stdexcept>

#include "kv_config.h"
#include "kv_policy.h"
#include "kv_policy_base.h"

namespace attnbench::kv {
namespace {

struct Entry {
  KvMethodInfo info;
  KvPolicyFactory make;
};

using Builtin = std::unique_ptr<KvPolicy> (*)(const KvParams&);

/// name, description, options (every key the method reads, with its default), factory.
struct BuiltinRow {
  const char* name;
  const char* description;
  const char* options;
  Builtin make;
};

const BuiltinRow kBuiltins[] = {
    {"full", "keeps every token (reference; compression 1x)", "elem_bytes=2", make_full},
    {"streaming", "StreamingLLM: attention sinks + recent window (budget, sink)", "budget=256,sink=4,elem_bytes=2", make_streaming},
    {"h2o", "H2O: heavy hitters by accumulated attention + recent tokens (budget, recent)", "budget=256,recent=budget/2,online=1,elem_bytes=2", make_h2o},
    {"a2sf", "A2SF: H2O with a forgetting factor on accumulated attention (budget, lambda)", "budget=256,recent=budget/2,lambda=0.99,online=1,elem_bytes=2", make_a2sf},
    {"tova", "TOVA: evicts the token the last query attends least (budget)", "budget=256,elem_bytes=2", make_tova},
    {"snapkv", "SnapKV: pooled attention of an observation window at the prompt end (budget, window, pool)", "budget=256,window=32,pool=7,elem_bytes=2", make_snapkv},
    {"pyramidkv", "PyramidKV: SnapKV with budgets shrinking across layers (budget, beta)", "budget=256,window=32,pool=7,beta=20,elem_bytes=2", make_pyramidkv},
    {"l2norm", "keeps the keys with the lowest L2 norm (budget)", "budget=256,elem_bytes=2", make_l2norm},
    {"expected_attention", "scores keys by attention expected from future queries (budget, window)", "budget=256,window=64,elem_bytes=2", make_expected_attention},
    {"duo", "DuoAttention: retrieval heads keep all, streaming heads sinks + recent (retrieval, recent; identify=1: the retrieval fraction chosen by the observation window's attention on what streaming drops)", "sink=4,recent=256,retrieval=0.5,elem_bytes=2", make_duo},
    {"razor", "RazorAttention: duo plus a compensation token per streaming head", "sink=4,recent=256,retrieval=0.5,elem_bytes=2", make_razor},
    {"kivi", "KIVI: 2/4-bit keys per channel, values per token, fp residual (bits, group, residual)", "bits=2,group=32,residual=128,elem_bytes=2", make_kivi},
    {"int8", "symmetric int8 per token with an fp16 scale", "elem_bytes=2", make_int8},
    {"random", "uniformly random tokens (budget, seed): the floor a method must beat", "budget=256,seed=0,elem_bytes=2", make_random},
    {"retrieval_offload", "query-aware IVF retrieval of offloaded keys (RetrievalAttention, Liu et al. 2024)", "budget=256,sink=4,recent=32,window=32,lists=64,nprobe=4,iters=8,seed=1234,elem_bytes=2", make_retrieval_offload},
    {"leank", "static key-channel mask (LeanK, Zhang et al. 2025)", "drop=0.5,elem_bytes=2", make_leank},
    {"spatten", "cascade token pruning + per-token quantisation (SpAtten, Wang et al. 2021)", "budget=256,bits=8,stages=3,elem_bytes=2", make_spatten},
    {"cla", "Cross-Layer Attention: groups of `share` adjacent layers decode over the first one's cache (Brandon et al. 2024; untrained sharing here)", "share=2,elem_bytes=2", make_cla},
    {"tidal", "TidalDecode: layer 0 and layer `select` attend fully and pick the top-budget positions the next layers reuse (select=-1: floor(num_layers/2) when a layer follows it; Yang et al. 2024)", "budget=256,select=-1,elem_bytes=2", make_tidal},
};

struct Registry {
  std::mutex mu;
  std::vector<std::string> order;
  std::map<std::string, Entry> entries;
  Registry() {
    for (const BuiltinRow& r : kBuiltins) {
      Builtin make = r.make;
      order.push_back(r.name);
      entries[r.name] = {{r.name, r.description, r.options, "built-in"},
                         [make](std::string_view config) { return make(parse_kv_config(config)); }};
    }
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::unique_ptr<KvPolicy> make_kv_policy(std::string_view config) {
  const KvParams p = parse_kv_config(config);
  KvPolicyFactory make;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    const auto it = r.entries.find(p.name);
    if (it == r.entries.end()) throw std::invalid_argument("kv: unknown method '" + p.name + "'");
    make = it->second.make;
  }
  return make(config);
}

std::vector<KvMethodInfo> kv_methods() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<KvMethodInfo> out;
  for (const auto& name : r.order) out.push_back(r.entries.at(name).info);
  return out;
}

void register_kv_method(KvMethodInfo info, KvPolicyFactory make) {
  if (info.name.empty() || info.name.find_first_of(":,=") != std::string::npos)
    throw std::invalid_argument("kv: method name '" + info.name + "' is empty or contains ':', ',' or '='");
  if (!make) throw std::invalid_argument("kv: method '" + info.name + "' has no factory");
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.entries.count(info.name))
    throw std::invalid_argument("kv: method '" + info.name + "' is already registered (" + r.entries.at(info.name).info.origin + ")");
  r.order.push_back(info.name);
  const std::string name = info.name;
  r.entries[name] = {std::move(info), std::move(make)};
}

}  // namespace attnbench::kv
