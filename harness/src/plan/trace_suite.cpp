#include "trace_suite.h"

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "attention_trace.h"
#include "kv_config.h"
#include "kv_policy.h"
#include "recall_suite.h"
#include "variant_config.h"

namespace attnbench {
using nlohmann::json;
using namespace suite_json;
using namespace suite_limits;
namespace fs = std::filesystem;

namespace {

/// Variants every trace runs by default: the recall suite's full list.
const std::vector<std::string> kDefaultVariants = {
    "flash:causal", "topk_decode:causal,k=64", "sliding_window:causal,window=256:0", "block_topk:causal,block=64,k=4",
    "hyper:causal", "hip:causal", "flexprefill:causal", "power:causal,local=64,block=64", "strided_heads:causal,local=64",
    "linear:causal,feature=taylor", "based:causal"};

std::vector<json> values_of(const json& v) { return v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v}; }

json default_methods() {
  json out = json::array();
  for (const auto& m : kv::kv_methods())
    if (m.origin == "built-in") out.push_back(m.name);
  return out;
}

/// Checks the optional methods/variants/axes of one layer (defaults, group, quick block).
void check_layer(const json& obj, const std::string& where) {
  if (const json* m = member(obj, "methods")) {
    if (!m->is_array()) fail(where + " methods", "'methods' must be a list of KV configs");
    for (const json& x : *m) {
      if (!x.is_string()) fail(where + " methods", fmt::format("methods must be strings, got {}", describe(x)));
      try { kv::make_kv_policy(x.get<std::string>()); } catch (const std::exception& e) {
        fail(where + " methods", fmt::format("method '{}': {}", x.get<std::string>(), e.what()));
      }
    }
  }
  if (const json* v = member(obj, "variants")) {
    if (!v->is_array()) fail(where + " variants", "'variants' must be a list of attention variant configs");
    for (const json& x : *v) {
      if (!x.is_string()) fail(where + " variants", fmt::format("variants must be strings, got {}", describe(x)));
      try { parse_variant_config(x.get<std::string>()); } catch (const std::exception& e) {
        fail(where + " variants", fmt::format("variant '{}': {}", x.get<std::string>(), e.what()));
      }
    }
  }
  if (const json* a = member(obj, "axes")) {
    check_keys(*a, {"budget", "compression_ratio"}, where + " axes");
    if (const json* b = member(*a, "budget"))
      for (const json& x : values_of(*b)) read_int(x, where + " axes.budget", {1, kMaxLen, "budgets"});
    if (const json* r = member(*a, "compression_ratio"))
      for (const json& x : values_of(*r)) {
        const double v = read_number(x, where + " axes.compression_ratio", 0, 1, "compression_ratio");
        if (v >= 1) fail(where + " axes.compression_ratio", "a compression ratio must be below 1 (1 removes everything)");
      }
  }
}

}  // namespace

void check_trace_defaults(const json& defaults, const std::string& where) {
  check_keys(defaults, {"methods", "variants", "axes", "repetitions", "min_time"}, where + ": defaults");
  check_layer(defaults, where + ": defaults");
}

void expand_trace_group(Suite& suite, const json& g, const json& defaults, bool quick, const std::string& gwhere) {
  check_keys(g, {"name", "trace", "methods", "variants", "axes", "quick", "repetitions", "min_time"}, gwhere);
  check_layer(g, gwhere);
  const json* q = member(g, "quick");
  if (q && !q->is_boolean()) {
    if (!q->is_object()) fail(gwhere + " quick", fmt::format("must be false, true or an object, got {}", describe(*q)));
    check_keys(*q, {"methods", "variants", "axes"}, gwhere + " quick");
    check_layer(*q, gwhere + " quick");
  }
  const json* t = member(g, "trace");
  if (!t || !t->is_string()) fail(gwhere, "'trace' must be the path of a trace folder");
  fs::path dir = t->get<std::string>();
  if (dir.is_relative() && !suite.path.empty()) dir = fs::path(suite.path).parent_path() / dir;
  // The trace is checked in full before anything runs: a refusal names the file at fault.
  const trace::TraceInfo info = trace::check_trace(dir.string());
  if (quick && q && q->is_boolean() && !q->get<bool>()) return;

  json methods = defaults.value("methods", default_methods());
  json variants = defaults.value("variants", json(kDefaultVariants));
  json axes = defaults.value("axes", json{{"compression_ratio", {0.5, 0.9}}});
  if (const json* m = member(g, "methods")) methods = *m;
  if (const json* v = member(g, "variants")) variants = *v;
  if (const json* a = member(g, "axes")) axes = *a;
  if (quick && q && q->is_object()) {
    if (const json* m = member(*q, "methods")) methods = *m;
    if (const json* v = member(*q, "variants")) variants = *v;
    if (const json* a = member(*q, "axes")) axes = *a;
  }
  const int T = info.question_start;
  std::vector<std::pair<int, double>> budgets;  // (tokens, ratio or -1)
  if (axes.contains("budget"))
    for (const json& b : values_of(axes["budget"])) budgets.emplace_back(b.get<int>(), -1.0);
  if (axes.contains("compression_ratio"))
    for (const json& r : values_of(axes["compression_ratio"]))
      budgets.emplace_back(budget_for_ratio(r.get<double>(), T), r.get<double>());

  CaseSpec proto;
  proto.suite = suite.name;
  proto.suite_file_hash = suite.file_hash;
  proto.group = g.value("name", std::string());
  proto.phase = "recall";
  proto.check = CheckMode::kNone;
  proto.repetitions = g.contains("repetitions") ? read_int(g["repetitions"], gwhere + " repetitions", {1, kMaxRepetitions, "repetitions"})
                                                : defaults.value("repetitions", 1);
  proto.min_time = g.contains("min_time") ? read_number(g["min_time"], gwhere + " min_time", 0, kMaxMinTime, "min_time")
                                          : defaults.value("min_time", 0.0);
  const auto base = [&] {
    auto r = std::make_shared<RecallCaseSpec>();
    r->trace_dir = info.dir;
    r->trace_shape = info.shape();
    r->layers = info.layers;
    r->has_depth = false;
    r->task.len_k = T;
    r->knobs.heads_q = info.heads_q, r->knobs.heads_kv = info.heads_kv, r->knobs.head_dim = info.head_dim;
    return r;
  };
  std::set<std::string> seen;
  for (const CaseSpec& c : suite.cases) seen.insert(c.key());
  const auto add = [&](CaseSpec c) {
    if (!seen.insert(c.key()).second) return;
    if (suite.cases.size() >= kMaxCases) fail(gwhere, fmt::format("expands to more than {} cases", kMaxCases));
    suite.cases.push_back(std::move(c));
  };
  for (const json& m : methods) {
    const std::string entry = m.get<std::string>();
    std::vector<std::pair<int, double>> mine = budgets;
    if (!kv_method_takes_budget(entry) || kv::parse_kv_config(entry).values.count("budget") || budgets.empty())
      mine = {{0, -1.0}};
    for (const auto& [b, ratio] : mine) {
      if (b >= T) continue;  // keeps everything: only repeats full
      auto r = base();
      r->method_entry = entry;
      r->method = b > 0 ? kv_config_with_budget(entry, b) : kv::make_kv_policy(entry)->config();
      r->budget = b > 0 ? b : (kv_method_takes_budget(entry) ? static_cast<int>(kv::parse_kv_config(r->method).geti("budget", 256)) : 0);
      if (r->budget >= T) continue;
      r->compression_ratio = ratio;
      CaseSpec c = proto;
      c.recall = std::move(r);
      add(std::move(c));
    }
  }
  for (const json& v : variants) {
    const VariantConfig cfg = parse_variant_config(v.get<std::string>());
    auto r = base();
    r->variant = cfg.canonical();
    CaseSpec c = proto;
    c.config = cfg;
    c.recall = std::move(r);
    add(std::move(c));
  }
  if (methods.empty() && variants.empty()) fail(gwhere, "needs at least one KV method or attention variant");
}

Suite trace_suite(const std::string& dir, bool quick) {
  fs::path abs = fs::absolute(dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // "dir/"
  const json doc = {{"suite", "trace"},
                    {"kind", "trace"},
                    {"description", "KV methods and attention variants on the trace " + dir},
                    {"groups", json::array({json{{"name", abs.filename().string()}, {"trace", abs.string()}}})}};
  return parse_suite(doc.dump(), "--trace " + dir, quick);
}

}  // namespace attnbench
