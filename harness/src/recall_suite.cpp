#include "recall_suite.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "kv_method.h"
#include "variant_config.h"

namespace attnbench {
using nlohmann::json;

namespace {

// Task axes, applied in this order (outermost first: one generated case per cell).
const std::vector<std::string> kTaskAxes = {"len_k", "depth", "n_depths", "heads_q", "heads_kv", "head_dim",
                                            "n_needles", "n_values", "n_pairs", "n_queries", "passkey_period"};
const std::vector<std::string> kAllAxes = [] {
  auto a = kTaskAxes;
  a.push_back("budget");
  return a;
}();
// Generator knobs a suite may override (the rest keep recall_generator.h's documented defaults).
const std::vector<std::string> kKnobs = {"needle_margin", "n_sinks", "n_distractors", "rope_dims", "local_logit",
                                         "sink_logit", "question_tokens", "context_attends_needle"};

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", where, why));
}

void check_keys(const json& obj, const std::vector<std::string>& allowed, const std::string& where) {
  if (!obj.is_object()) fail(where, "expected an object");
  for (const auto& [key, _] : obj.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(where, fmt::format("unknown field '{}' (allowed: {})", key, fmt::join(allowed, ", ")));
}

std::vector<json> values_of(const json& v) { return v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v}; }

int as_int(const json& v, const std::string& where) {
  if (!v.is_number_integer()) fail(where, fmt::format("expected an integer, got {}", v.dump()));
  return v.get<int>();
}

/// One cell of the task axes before methods and budgets are crossed in.
struct Cell {
  recall::TaskParams task;
  recall::RecallKnobs knobs;
};

void apply_axis(Cell& c, const std::string& axis, const json& v, const std::string& where) {
  if (axis == "depth") {
    if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) fail(where, "depth must be a number in 0..1");
    c.task.depth = v.get<double>();
    return;
  }
  const int x = as_int(v, where);
  if (x < 1) fail(where, fmt::format("must be positive, got {}", x));
  if (axis == "len_k") c.task.len_k = x;
  else if (axis == "heads_q") c.knobs.heads_q = x;
  else if (axis == "heads_kv") c.knobs.heads_kv = x;
  else if (axis == "head_dim") c.knobs.head_dim = x;
  else if (axis == "n_needles") c.task.n_needles = x;
  else if (axis == "n_values") c.task.n_values = x;
  else if (axis == "n_pairs") c.task.n_pairs = x;
  else if (axis == "n_queries") c.task.n_queries = x;
  else if (axis == "passkey_period") c.task.passkey_period = x;
}

/// Axis values; "n_depths": N stands for N depths evenly spaced over [0, 1] (recall::depth_grid).
std::vector<json> axis_values(const std::string& axis, const json& v, const std::string& where) {
  if (axis != "n_depths") return values_of(v);
  const int n = as_int(v, where);
  if (n < 2) fail(where, "n_depths must be at least 2");
  std::vector<json> out;
  for (const auto& cell : recall::depth_grid({1}, n)) out.push_back(cell.depth);
  return out;
}

/// Overlays `layer` on `axes`. "depth" and "n_depths" are two spellings of one axis, so
/// a layer giving either replaces both (a quick block may swap a grid for a few depths).
void merge_axes(json& axes, const json& layer) {
  for (const auto& [k, v] : layer.items()) {
    if (k == "depth") axes.erase("n_depths");
    if (k == "n_depths") axes.erase("depth");
    axes[k] = v;
  }
}

/// Applies the "knobs" object; returns the canonical "k=v,..." of what changed (sorted, for the shape).
std::string apply_knobs(recall::RecallKnobs& k, const json& knobs, const std::string& where) {
  check_keys(knobs, kKnobs, where + " knobs");
  std::vector<std::string> parts;
  for (const auto& [name, v] : knobs.items()) {
    const std::string w = fmt::format("{} knob '{}'", where, name);
    if (name == "context_attends_needle") {
      if (!v.is_boolean()) fail(w, "must be true or false");
      k.context_attends_needle = v.get<bool>();
      parts.push_back(fmt::format("{}={}", name, v.get<bool>() ? 1 : 0));
      continue;
    }
    if (!v.is_number()) fail(w, "must be a number");
    const double x = v.get<double>();
    if (name == "needle_margin") k.needle_margin = x;
    else if (name == "local_logit") k.local_logit = x;
    else if (name == "sink_logit") k.sink_logit = x;
    else {
      if (!v.is_number_integer() || x < 0) fail(w, "must be a non-negative integer");
      if (name == "n_sinks") k.n_sinks = static_cast<int32_t>(x);
      else if (name == "n_distractors") k.n_distractors = static_cast<int32_t>(x);
      else if (name == "rope_dims") k.rope_dims = static_cast<int32_t>(x);
      else if (name == "question_tokens") k.question_tokens = static_cast<int32_t>(x);
    }
    parts.push_back(fmt::format("{}={:g}", name, x));
  }
  std::sort(parts.begin(), parts.end());
  return fmt::format("{}", fmt::join(parts, ","));
}

/// Canonical config of a method string; std::invalid_argument for unknown methods.
std::string canonical_method(const std::string& m) { return kv::make_kv_method(m)->config(); }

/// The method configs of one method entry: crossed with the budgets unless the method
/// takes none or fixes its own.
std::vector<std::pair<std::string, int>> method_configs(const std::string& entry, const std::vector<int>& budgets) {
  const kv::KvParams p = kv::parse_kv_config(entry);
  if (!kv_method_takes_budget(entry)) return {{canonical_method(entry), 0}};
  if (p.values.count("budget") || budgets.empty()) {
    const auto m = kv::make_kv_method(entry);
    return {{m->config(), static_cast<int>(m->params().geti("budget", 256))}};
  }
  std::vector<std::pair<std::string, int>> out;
  for (int b : budgets) out.emplace_back(kv_config_with_budget(entry, b), b);
  return out;
}

/// Parses the "variants" list of a group: attention variant configs, run once per cell.
std::vector<VariantConfig> variant_configs(const json& variants, const std::string& where) {
  if (!variants.is_array()) fail(where, "'variants' must be a list of attention variant configs");
  std::vector<VariantConfig> out;
  for (const json& v : variants) {
    if (!v.is_string()) fail(where, "variants must be strings");
    try {
      out.push_back(parse_variant_config(v.get<std::string>()));
    } catch (const std::invalid_argument& e) {
      fail(where, fmt::format("variant '{}': {}", v.get<std::string>(), e.what()));
    }
  }
  return out;
}

}  // namespace

bool is_recall_group(const json& group) { return group.is_object() && group.contains("task"); }

void check_recall_defaults(const json& defaults, const std::string& where) {
  check_keys(defaults, {"axes", "methods", "variants", "knobs", "repetitions", "min_time"}, where + " defaults");
}

std::string kv_config_with_budget(const std::string& method, int budget) {
  kv::KvParams p = kv::parse_kv_config(method);
  p.values["budget"] = budget;
  std::vector<std::string> parts;
  for (const auto& [k, v] : p.values) parts.push_back(fmt::format("{}={:g}", k, v));
  return canonical_method(fmt::format("{}:{}", p.name, fmt::join(parts, ",")));
}

bool kv_method_takes_budget(const std::string& method) {
  // The canonical config lists every parameter a method reads, so "budget=" in it is the
  // method's own statement that it takes a budget (unknown keys are ignored, not listed).
  return canonical_method(method).find("budget=") != std::string::npos;
}

void check_method_globs(const std::vector<std::string>& globs) {
  const std::vector<std::string> names = kv::kv_method_names();
  for (const auto& g : globs) {
    const std::string base = g.substr(0, g.find(':'));
    const bool known = std::any_of(names.begin(), names.end(),
                                   [&](const std::string& n) { return fnmatch(base.c_str(), n.c_str(), 0) == 0; });
    if (!known) throw std::invalid_argument(fmt::format("unknown KV method '{}' (see 'attnbench list methods')", g));
  }
}

bool method_selected(const std::vector<std::string>& globs, const RecallCaseSpec& spec) {
  if (globs.empty()) return true;
  const std::string name = spec.method_name();
  for (const auto& g : globs) {
    if (fnmatch(g.c_str(), name.c_str(), 0) == 0 || fnmatch(g.c_str(), spec.method.c_str(), 0) == 0) return true;
    // "kivi:bits=2" names the leading parameters of the canonical config.
    if (g.find(':') != std::string::npos && fnmatch((g + ",*").c_str(), spec.method.c_str(), 0) == 0) return true;
  }
  return false;
}

void expand_recall_group(Suite& suite, const json& g, const json& defaults, bool quick, const std::string& where) {
  check_keys(g, {"name", "task", "methods", "variants", "axes", "knobs", "quick", "repetitions", "min_time"}, where);
  if (!g.contains("name") || !g["name"].is_string()) fail(where, "group needs a string 'name'");
  const std::string name = g["name"];
  const std::string gwhere = fmt::format("{} group '{}'", where, name);
  if (quick && g.contains("quick") && g["quick"].is_boolean() && !g["quick"].get<bool>()) return;
  if (!g["task"].is_string()) fail(gwhere, "'task' must be a string");
  recall::RecallTask task;
  try { task = recall::parse_task(g["task"]); } catch (const std::exception& e) {
    fail(gwhere, fmt::format("unknown task '{}' (single_needle, multi_key, multi_value, multi_query, passkey, mqar)",
                             g["task"].get<std::string>()));
  }

  // Axes, methods and variants: defaults, then the group, then (for --quick) the group's quick block.
  json axes = defaults.value("axes", json::object());
  json methods = defaults.value("methods", json::array());
  json variants = defaults.value("variants", json::array());
  json knobs = defaults.value("knobs", json::object());
  if (g.contains("axes")) {
    if (!g["axes"].is_object()) fail(gwhere, "'axes' must be an object");
    merge_axes(axes, g["axes"]);
  }
  if (g.contains("methods")) methods = g["methods"];
  if (g.contains("variants")) variants = g["variants"];
  if (g.contains("knobs")) {
    if (!g["knobs"].is_object()) fail(gwhere, "'knobs' must be an object");
    for (const auto& [k, v] : g["knobs"].items()) knobs[k] = v;
  }
  if (quick && g.contains("quick") && g["quick"].is_object()) {
    check_keys(g["quick"], {"axes", "methods", "variants"}, gwhere + " quick");
    const json quick_axes = g["quick"].value("axes", json::object());  // named: items() must not outlive it
    merge_axes(axes, quick_axes);
    if (g["quick"].contains("methods")) methods = g["quick"]["methods"];
    if (g["quick"].contains("variants")) variants = g["quick"]["variants"];
  }
  if (axes.contains("len")) {  // the attention suites' name for a length, accepted here too
    axes["len_k"] = axes["len"];
    axes.erase("len");
  }
  for (const auto& [k, v] : axes.items()) {
    if (std::find(kAllAxes.begin(), kAllAxes.end(), k) == kAllAxes.end())
      fail(gwhere, fmt::format("unknown axis '{}' (axes: {})", k, fmt::join(kAllAxes, ", ")));
    if (v.is_array() && v.empty()) fail(gwhere, fmt::format("axis '{}' has no values", k));
  }
  if (task == recall::RecallTask::mqar && (axes.contains("depth") || axes.contains("n_depths")))
    fail(gwhere, "mqar spreads its pairs over the context: it has no depth axis");
  if (!methods.is_array()) fail(gwhere, "'methods' must be a list of KV configs");
  const std::vector<VariantConfig> variant_list = variant_configs(variants, gwhere);
  if (methods.empty() && variant_list.empty())
    fail(gwhere, "needs at least one KV config in 'methods' or attention variant in 'variants'");

  std::vector<int> budgets;
  if (axes.contains("budget"))
    for (const json& b : values_of(axes["budget"])) {
      const int x = as_int(b, gwhere + " axis 'budget'");
      if (x < 1) fail(gwhere + " axis 'budget'", "budgets must be positive");
      budgets.push_back(x);
    }

  CaseSpec proto;
  proto.suite = suite.name;
  proto.suite_file_hash = suite.file_hash;
  proto.group = name;
  proto.phase = "recall";
  proto.check = CheckMode::kNone;  // recall cases are scored by the executor, not the oracle
  proto.repetitions = g.value("repetitions", defaults.value("repetitions", 3));
  proto.min_time = g.value("min_time", defaults.value("min_time", 0.0));
  if (proto.repetitions < 1 || proto.repetitions > 1000) fail(gwhere, "repetitions must be in 1..1000");
  if (!(proto.min_time >= 0 && proto.min_time <= 60)) fail(gwhere, "min_time must be in 0..60 seconds");

  Cell base;
  base.task.task = task;
  const std::string overrides = apply_knobs(base.knobs, knobs, gwhere);
  std::vector<Cell> cells{base};
  for (const std::string& axis : kTaskAxes) {
    if (!axes.contains(axis)) continue;
    std::vector<Cell> next;
    const std::string awhere = fmt::format("{} axis '{}'", gwhere, axis);
    for (const Cell& c : cells)
      for (const json& v : axis_values(axis, axes[axis], awhere)) {
        Cell t = c;
        apply_axis(t, axis == "n_depths" ? "depth" : axis, v, awhere);
        next.push_back(t);
      }
    cells.swap(next);
  }

  struct Config {
    std::string entry, method;
    int budget;
  };
  std::vector<Config> configs;
  for (const json& m : methods) {
    if (!m.is_string()) fail(gwhere, "methods must be strings");
    try {
      for (auto& [method, budget] : method_configs(m.get<std::string>(), budgets))
        configs.push_back({m.get<std::string>(), method, budget});
    } catch (const std::invalid_argument& e) {
      fail(gwhere, fmt::format("method '{}': {}", m.get<std::string>(), e.what()));
    }
  }
  // Identical cases (a method listed twice, overlapping groups) would collide on the
  // case key, which is unique within a run: keep the first.
  std::set<std::string> seen;
  for (const CaseSpec& c : suite.cases) seen.insert(c.key());
  for (const Cell& cell : cells) {
    if (cell.knobs.heads_q % cell.knobs.heads_kv)
      fail(gwhere, fmt::format("heads_q {} is not a multiple of heads_kv {}", cell.knobs.heads_q, cell.knobs.heads_kv));
    for (const auto& [entry, config, budget] : configs) {
      if (budget >= cell.task.len_k) continue;
      auto r = std::make_shared<RecallCaseSpec>();
      r->task = cell.task;
      r->knobs = cell.knobs;
      r->knob_overrides = overrides;
      r->method = config;
      r->method_entry = entry;
      r->budget = budget;
      r->has_depth = task != recall::RecallTask::mqar;
      CaseSpec c = proto;
      c.recall = std::move(r);
      if (seen.insert(c.key()).second) suite.cases.push_back(std::move(c));
    }
    // Variants have no budget axis: they keep what their own options say, once per cell.
    for (const VariantConfig& cfg : variant_list) {
      auto r = std::make_shared<RecallCaseSpec>();
      r->task = cell.task;
      r->knobs = cell.knobs;
      r->knob_overrides = overrides;
      r->variant = cfg.canonical();
      r->has_depth = task != recall::RecallTask::mqar;
      CaseSpec c = proto;
      c.config = cfg;  // so --variant globs match recall variant cases as they match attention cases
      c.recall = std::move(r);
      if (seen.insert(c.key()).second) suite.cases.push_back(std::move(c));
    }
  }
}

std::vector<CaseSpec> override_budgets(const std::vector<CaseSpec>& cases, const std::vector<int>& budgets) {
  if (budgets.empty()) return cases;
  for (int b : budgets)
    if (b < 1) throw std::invalid_argument(fmt::format("invalid --budget {} (budgets are positive token counts)", b));
  std::vector<CaseSpec> out;
  std::set<std::string> seen;
  for (const CaseSpec& c : cases) {
    if (!c.recall || c.recall->budget == 0) {
      out.push_back(c);
      continue;
    }
    for (int b : budgets) {
      if (b >= c.recall->task.len_k) continue;
      auto r = std::make_shared<RecallCaseSpec>(*c.recall);
      r->method = kv_config_with_budget(r->method_entry, b);
      r->budget = b;
      CaseSpec n = c;
      n.recall = std::move(r);
      if (seen.insert(n.key()).second) out.push_back(std::move(n));
    }
  }
  return out;
}

}  // namespace attnbench
