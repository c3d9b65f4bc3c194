#include "recall_suite.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>

#include "kv_config.h"
#include "kv_policy.h"
#include "variant_config.h"

namespace attnbench {
using nlohmann::json;

namespace {

// Task axes, applied in this order (outermost first: one generated case per cell).
const std::vector<std::string> kTaskAxes = {"len_k",     "depth",   "n_depths", "heads_q",   "heads_kv",      "head_dim",
                                            "n_needles", "n_values", "n_pairs", "n_queries", "passkey_period", "layers"};
/// Most layers a generated case may have (each one is a full single-layer case).
constexpr int kMaxLayers = 256;
const std::vector<std::string> kAllAxes = [] {
  auto a = kTaskAxes;
  a.push_back("budget");
  return a;
}();
// Generator knobs a suite may override (the rest keep recall_generator.h's documented defaults).
const std::vector<std::string> kKnobs = {"needle_margin",  "n_sinks",         "n_distractors",
                                         "rope_dims",      "local_logit",     "sink_logit",
                                         "question_tokens", "context_attends_needle", "sink_key_norm_ratio",
                                         "needle_key_norm_ratio", "retrieval_kv_heads"};

using namespace suite_json;
using namespace suite_limits;

std::vector<json> values_of(const json& v) { return v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v}; }

/// The "compress_before_question" settings of a layer: a boolean or a non-empty list of
/// distinct booleans (false = query-aware, the question in the observation window).
std::vector<bool> cbq_values(const json& v, const std::string& where) {
  if (v.is_array() && v.empty()) fail(where, "'compress_before_question' has no values");
  std::vector<bool> out;
  for (const json& x : values_of(v)) {
    const bool b = read_bool(x, where);
    if (std::find(out.begin(), out.end(), b) != out.end()) fail(where, fmt::format("value {} is listed twice", b));
    out.push_back(b);
  }
  return out;
}

/// One cell of the task axes before methods and budgets are crossed in.
struct Cell {
  recall::TaskParams task;
  recall::RecallKnobs knobs;
  int32_t layers = 1;
};

/// Range of an integer recall axis ("depth" is a number, see check_axis_value).
IntRange axis_range(const std::string& axis) {
  if (axis == "len_k" || axis == "len") return {1, kMaxLen, "len_k"};
  if (axis == "budget") return {1, kMaxLen, "budgets"};
  if (axis == "n_depths") return {2, kMaxDepths, "n_depths"};
  if (axis == "heads_q" || axis == "heads_kv") return {1, kMaxHeads, "head counts"};
  if (axis == "head_dim") return {1, kMaxHeadDim, "head_dim"};
  if (axis == "passkey_period") return {1, kMaxLen, "passkey_period"};
  if (axis == "layers") return {1, kMaxLayers, "layers"};
  return {1, kMaxCount, "task counts"};  // n_needles, n_values, n_pairs, n_queries
}

/// Checks one value of a recall axis on its own (type and range).
void check_axis_value(const std::string& axis, const json& v, const std::string& where) {
  if (axis == "depth") read_number(v, where, 0, 1, "depth");
  else read_int(v, where, axis_range(axis));
}

/// Checks one layer of axes (defaults, group or quick block): known names (and the
/// attention suites' "len"), non-empty lists, each value's type and range.
void check_axes_layer(const json& axes, const std::string& where) {
  if (!axes.is_object()) fail(where, fmt::format("expected an object, got {}", describe(axes)));
  for (const auto& [k, v] : axes.items()) {
    if (k != "len" && std::find(kAllAxes.begin(), kAllAxes.end(), k) == kAllAxes.end())
      fail(where, fmt::format("unknown axis '{}' (axes: {})", k, fmt::join(kAllAxes, ", ")));
    const std::string w = fmt::format("{}.{}", where, k);
    if (v.is_array() && v.empty()) fail(w, fmt::format("axis '{}' has no values", k));
    if (k == "n_depths") read_int(v, w, axis_range(k));  // a count, not a list
    else for (const json& x : values_of(v)) check_axis_value(k, x, w);
  }
}

void apply_axis(Cell& c, const std::string& axis, const json& v, const std::string& where) {
  if (axis == "depth") {
    c.task.depth = read_number(v, where, 0, 1, "depth");
    return;
  }
  const int x = read_int(v, where, axis_range(axis));
  if (axis == "len_k") c.task.len_k = x;
  else if (axis == "heads_q") c.knobs.heads_q = x;
  else if (axis == "heads_kv") c.knobs.heads_kv = x;
  else if (axis == "head_dim") c.knobs.head_dim = x;
  else if (axis == "n_needles") c.task.n_needles = x;
  else if (axis == "n_values") c.task.n_values = x;
  else if (axis == "n_pairs") c.task.n_pairs = x;
  else if (axis == "n_queries") c.task.n_queries = x;
  else if (axis == "passkey_period") c.task.passkey_period = x;
  else if (axis == "layers") c.layers = x;
}

/// Axis values; "n_depths": N stands for N depths evenly spaced over [0, 1] (recall::depth_grid).
std::vector<json> axis_values(const std::string& axis, const json& v, const std::string& where) {
  if (axis != "n_depths") return values_of(v);
  const int n = read_int(v, where, axis_range(axis));
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
  check_keys(knobs, kKnobs, where);
  std::vector<std::string> parts;
  for (const auto& [name, v] : knobs.items()) {
    const std::string w = fmt::format("{}.{}", where, name);
    if (name == "context_attends_needle") {
      k.context_attends_needle = read_bool(v, w);
      parts.push_back(fmt::format("{}={}", name, k.context_attends_needle ? 1 : 0));
      continue;
    }
    if (name == "sink_key_norm_ratio" || name == "needle_key_norm_ratio") {  // norms relative to the haystack's
      const double x = read_number(v, w, 0.01, 100, name.c_str());
      (name == "sink_key_norm_ratio" ? k.sink_key_norm_ratio : k.needle_key_norm_ratio) = x;
      parts.push_back(fmt::format("{}={:g}", name, x));
      continue;
    }
    if (name == "needle_margin" || name == "local_logit" || name == "sink_logit") {
      const double x = read_number(v, w, -kMaxLogit, kMaxLogit, name.c_str());
      if (name == "needle_margin") k.needle_margin = x;
      else if (name == "local_logit") k.local_logit = x;
      else k.sink_logit = x;
      parts.push_back(fmt::format("{}={:g}", name, x));
      continue;
    }
    // Integer knobs: rope_dims rotates part of head_dim, the others count tokens.
    const int x = read_int(v, w, {0, name == "rope_dims" ? kMaxHeadDim : kMaxCount, name.c_str()});
    if (name == "n_sinks") k.n_sinks = x;
    else if (name == "n_distractors") k.n_distractors = x;
    else if (name == "rope_dims") k.rope_dims = x;
    else if (name == "question_tokens") k.question_tokens = x;
    else if (name == "retrieval_kv_heads") k.retrieval_kv_heads = x;
    parts.push_back(fmt::format("{}={:g}", name, static_cast<double>(x)));  // as stored shapes have always spelled it
  }
  std::sort(parts.begin(), parts.end());
  return fmt::format("{}", fmt::join(parts, ","));
}

/// Canonical config of a method string; std::invalid_argument for unknown methods.
std::string canonical_method(const std::string& m) { return kv::make_kv_policy(m)->config(); }

/// Refuses KV parameters the methods would convert out of range: they read every value
/// as a double and cast it to an integer (undefined beyond int64, wrapping beyond int32).
void check_method_params(const std::string& entry) {
  for (const auto& [key, x] : kv::parse_kv_config(entry).values) {
    if (!std::isfinite(x) || std::fabs(x) > INT32_MAX)
      throw std::invalid_argument(fmt::format("parameter {}={:g} is out of range (|x| < 2^31)", key, x));
    if (key == "budget" && (x < 1 || x > static_cast<double>(kMaxLen)))
      throw std::invalid_argument(fmt::format("budget must be in 1..{}, got {:g}", kMaxLen, x));
  }
}

/// The method configs of one method entry: crossed with the budgets unless the method
/// takes none or fixes its own.
std::vector<std::pair<std::string, int>> method_configs(const std::string& entry, const std::vector<int>& budgets) {
  check_method_params(entry);
  const kv::KvParams p = kv::parse_kv_config(entry);
  if (!kv_method_takes_budget(entry)) return {{canonical_method(entry), 0}};
  if (p.values.count("budget") || budgets.empty()) {
    const std::string config = canonical_method(entry);
    return {{config, static_cast<int>(kv::parse_kv_config(config).geti("budget", 256))}};
  }
  std::vector<std::pair<std::string, int>> out;
  for (int b : budgets) out.emplace_back(kv_config_with_budget(entry, b), b);
  return out;
}

/// Checks a "methods" list of one layer: KV configs of known methods with parameters in range.
void check_methods_layer(const json& methods, const std::string& where) {
  if (!methods.is_array()) fail(where, "'methods' must be a list of KV configs");
  for (const json& m : methods) {
    if (!m.is_string()) fail(where, fmt::format("methods must be strings, got {}", describe(m)));
    try {
      method_configs(m.get<std::string>(), {});
    } catch (const std::exception& e) {  // kv parsing is not ours: any failure is bad input
      fail(where, fmt::format("method '{}': {}", m.get<std::string>(), e.what()));
    }
  }
}

/// Parses the "variants" list of a group: attention variant configs, run once per cell.
/// Windows are bounded by the longest length, so q + window cannot overflow in a kernel.
std::vector<VariantConfig> variant_configs(const json& variants, const std::string& where) {
  if (!variants.is_array()) fail(where, "'variants' must be a list of attention variant configs");
  std::vector<VariantConfig> out;
  for (const json& v : variants) {
    if (!v.is_string()) fail(where, fmt::format("variants must be strings, got {}", describe(v)));
    try {
      out.push_back(parse_variant_config(v.get<std::string>()));
    } catch (const std::exception& e) {
      fail(where, fmt::format("variant '{}': {}", v.get<std::string>(), e.what()));
    }
    if (out.back().window_left > kMaxLen || out.back().window_right > kMaxLen)
      fail(where, fmt::format("variant '{}': window sizes must be at most {}", v.get<std::string>(), kMaxLen));
  }
  return out;
}

/// Checks the layers a group, the defaults and a quick block may each carry, whichever of
/// them a run applies. `where` names the object ("FILE: group 'g'", "... quick").
void check_layers(const json& obj, const std::string& where, const std::string& sep) {
  if (const json* a = member(obj, "axes")) check_axes_layer(*a, where + sep + "axes");
  if (const json* m = member(obj, "methods")) check_methods_layer(*m, where + sep + "methods");
  if (const json* v = member(obj, "variants")) variant_configs(*v, where + sep + "variants");
  if (const json* k = member(obj, "knobs")) {
    recall::RecallKnobs scratch;
    apply_knobs(scratch, *k, where + sep + "knobs");
  }
  if (const json* c = member(obj, "compress_before_question")) cbq_values(*c, where + sep + "compress_before_question");
}

/// Checks repetitions and min_time of a group or the defaults; returns them with fallbacks.
std::pair<int, double> timing(const json& obj, const std::string& where, std::pair<int, double> fallback) {
  int reps = fallback.first;
  double min_time = fallback.second;
  if (const json* r = member(obj, "repetitions"))
    reps = read_int(*r, where + " repetitions", {1, kMaxRepetitions, "repetitions"});
  if (const json* t = member(obj, "min_time")) min_time = read_number(*t, where + " min_time", 0, kMaxMinTime, "min_time");
  return {reps, min_time};
}

/// Refuses a cell whose heads do not group, or whose cache (the context queries
/// [heads_q, len_k, head_dim] are the largest tensor) exceeds what an int32 offset addresses.
void check_cell(const Cell& c, const std::string& where) {
  if (c.knobs.heads_q % c.knobs.heads_kv)
    fail(where, fmt::format("heads_q {} is not a multiple of heads_kv {}", c.knobs.heads_q, c.knobs.heads_kv));
  if (c.knobs.retrieval_kv_heads > c.knobs.heads_kv)
    fail(where, fmt::format("retrieval_kv_heads {} exceeds heads_kv {}", c.knobs.retrieval_kv_heads, c.knobs.heads_kv));
  const int64_t elements = int64_t{c.knobs.heads_q} * c.task.len_k * c.knobs.head_dim;  // each bounded: no overflow
  if (elements > kMaxTensorElements)
    fail(where, fmt::format("heads_q {} x len_k {} x head_dim {} exceeds {} elements", c.knobs.heads_q, c.task.len_k,
                            c.knobs.head_dim, kMaxTensorElements));
}

}  // namespace

bool is_recall_group(const json& group) { return group.is_object() && group.contains("task"); }

void check_recall_defaults(const json& defaults, const std::string& where) {
  const std::string dwhere = where + ": defaults";
  check_keys(defaults, {"axes", "methods", "variants", "knobs", "compress_before_question", "repetitions", "min_time"},
             dwhere);
  check_layers(defaults, dwhere, " ");
  timing(defaults, dwhere, {3, 0.0});
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
  std::vector<std::string> names;
  for (const auto& m : kv::kv_methods()) names.push_back(m.name);
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

void expand_recall_group(Suite& suite, const json& g, const json& defaults, bool quick, const std::string& gwhere) {
  check_keys(g, {"name", "task", "methods", "variants", "axes", "knobs", "compress_before_question", "judge_layer", "quick",
                 "repetitions", "min_time"},
             gwhere);
  // Every layer is checked before --quick picks the ones that apply, so a typo in a quick
  // block fails a full run too.
  const json* q = member(g, "quick");
  if (q && !q->is_boolean()) {
    if (!q->is_object()) fail(gwhere + " quick", fmt::format("must be false, true or an object, got {}", describe(*q)));
    check_keys(*q, {"axes", "methods", "variants", "compress_before_question"}, gwhere + " quick");
    check_layers(*q, gwhere + " quick", ".");
  }
  check_layers(g, gwhere, " ");
  const std::string dwhere = suite.path + ": defaults";
  const auto [repetitions, min_time] = timing(g, gwhere, timing(defaults, dwhere, {3, 0.0}));
  const json* task_field = member(g, "task");
  if (!task_field || !task_field->is_string()) fail(gwhere, "'task' must be a string");
  recall::RecallTask task;
  try { task = recall::parse_task(task_field->get<std::string>()); } catch (const std::exception&) {
    fail(gwhere, fmt::format("unknown task '{}' (single_needle, multi_key, multi_value, multi_query, passkey, mqar)",
                             task_field->get<std::string>()));
  }
  if (quick && q && q->is_boolean() && !q->get<bool>()) return;

  // Axes, methods and variants: defaults, then the group, then (for --quick) the group's quick block.
  json axes = defaults.value("axes", json::object());
  json methods = defaults.value("methods", json::array());
  json variants = defaults.value("variants", json::array());
  json knobs = defaults.value("knobs", json::object());
  json cbq = defaults.value("compress_before_question", json(false));
  if (const json* c = member(g, "compress_before_question")) cbq = *c;
  if (const json* a = member(g, "axes")) merge_axes(axes, *a);
  if (const json* m = member(g, "methods")) methods = *m;
  if (const json* v = member(g, "variants")) variants = *v;
  if (const json* k = member(g, "knobs"))
    for (const auto& [name, v] : k->items()) knobs[name] = v;
  if (quick && q && q->is_object()) {
    if (const json* a = member(*q, "axes")) merge_axes(axes, *a);
    if (const json* m = member(*q, "methods")) methods = *m;
    if (const json* v = member(*q, "variants")) variants = *v;
    if (const json* c = member(*q, "compress_before_question")) cbq = *c;
  }
  const std::vector<bool> settings = cbq_values(cbq, gwhere + " compress_before_question");
  int judge_layer = -1;  // the last layer
  if (const json* j = member(g, "judge_layer")) judge_layer = read_int(*j, gwhere + " judge_layer", {0, kMaxLayers - 1, "judge_layer"});
  if (axes.contains("len")) {  // the attention suites' name for a length, accepted here too
    axes["len_k"] = axes["len"];
    axes.erase("len");
  }
  if (task == recall::RecallTask::mqar && (axes.contains("depth") || axes.contains("n_depths")))
    fail(gwhere, "mqar spreads its pairs over the context: it has no depth axis");
  const std::vector<VariantConfig> variant_list = variant_configs(variants, gwhere + " variants");
  if (methods.empty() && variant_list.empty())
    fail(gwhere, "needs at least one KV config in 'methods' or attention variant in 'variants'");

  std::vector<int> budgets;
  if (axes.contains("budget"))
    for (const json& b : values_of(axes["budget"])) budgets.push_back(read_int(b, gwhere + " axes.budget", axis_range("budget")));

  CaseSpec proto;
  proto.suite = suite.name;
  proto.suite_file_hash = suite.file_hash;
  proto.group = g.value("name", std::string());
  proto.phase = "recall";
  proto.check = CheckMode::kNone;  // recall cases are scored by the executor, not the oracle
  proto.repetitions = repetitions;
  proto.min_time = min_time;

  Cell base;
  base.task.task = task;
  const std::string overrides = apply_knobs(base.knobs, knobs, gwhere + " knobs");
  std::vector<Cell> cells{base};
  for (const std::string& axis : kTaskAxes) {
    if (!axes.contains(axis)) continue;
    const std::string awhere = fmt::format("{} axes.{}", gwhere, axis);
    const std::vector<json> values = axis_values(axis, axes[axis], awhere);
    if (cells.size() * values.size() > kMaxCases) fail(gwhere, fmt::format("expands to more than {} cases", kMaxCases));
    std::vector<Cell> next;
    for (const Cell& c : cells)
      for (const json& v : values) {
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
    try {
      for (auto& [method, budget] : method_configs(m.get<std::string>(), budgets))
        configs.push_back({m.get<std::string>(), method, budget});
    } catch (const std::exception& e) {
      fail(gwhere + " methods", fmt::format("method '{}': {}", m.get<std::string>(), e.what()));
    }
  }
  // Identical cases (a method listed twice, overlapping groups) would collide on the
  // case key, which is unique within a run: keep the first.
  std::set<std::string> seen;
  for (const CaseSpec& c : suite.cases) seen.insert(c.key());
  const auto add = [&](CaseSpec c) {
    if (!seen.insert(c.key()).second) return;
    if (suite.cases.size() >= kMaxCases) fail(gwhere, fmt::format("expands to more than {} cases", kMaxCases));
    suite.cases.push_back(std::move(c));
  };
  for (const Cell& cell : cells) {
    check_cell(cell, gwhere);
    if (judge_layer >= cell.layers)
      fail(gwhere, fmt::format("judge_layer {} needs at least {} layers, the cell has {}", judge_layer, judge_layer + 1, cell.layers));
    for (const auto& [entry, config, budget] : configs)
      for (const bool before_question : settings) {
        if (budget >= cell.task.len_k) continue;
        auto r = std::make_shared<RecallCaseSpec>();
        r->task = cell.task;
        r->knobs = cell.knobs;
        r->knob_overrides = overrides;
        r->method = config;
        r->method_entry = entry;
        r->budget = budget;
        r->has_depth = task != recall::RecallTask::mqar;
        r->compress_before_question = before_question;
        r->layers = cell.layers;
        r->judge_layer = judge_layer;
        CaseSpec c = proto;
        c.recall = std::move(r);
        add(std::move(c));
      }
    // Variants have no budget axis: they keep what their own options say, once per cell.
    // They compress nothing and see the question as their query, so the setting of
    // compress_before_question does not apply to them: one query-aware case each.
    for (const VariantConfig& cfg : variant_list) {
      auto r = std::make_shared<RecallCaseSpec>();
      r->task = cell.task;
      r->knobs = cell.knobs;
      r->knob_overrides = overrides;
      r->variant = cfg.canonical();
      r->layers = cell.layers;
      r->judge_layer = judge_layer;
      r->has_depth = task != recall::RecallTask::mqar;
      CaseSpec c = proto;
      c.config = cfg;  // so --variant globs match recall variant cases as they match attention cases
      c.recall = std::move(r);
      add(std::move(c));
    }
  }
}

int budget_for_ratio(double ratio, int len_k) {
  return std::max(1, static_cast<int>(std::lround((1.0 - ratio) * len_k)));
}

std::vector<CaseSpec> override_budgets(const std::vector<CaseSpec>& cases, const std::vector<int>& budgets,
                                       const std::vector<double>& ratios) {
  if (budgets.empty() && ratios.empty()) return cases;
  for (int b : budgets)
    if (b < 1) throw std::invalid_argument(fmt::format("invalid --budget {} (budgets are positive token counts)", b));
  for (double r : ratios)
    if (!(r >= 0 && r < 1))
      throw std::invalid_argument(fmt::format("invalid --compression-ratio {:g} (the fraction of the cache removed, 0 <= R < 1)", r));
  std::vector<CaseSpec> out;
  std::set<std::string> seen;
  for (const CaseSpec& c : cases) {
    if (!c.recall || c.recall->budget == 0) {
      out.push_back(c);
      continue;
    }
    // Token budgets first, then ratios (each resolved on this case's length).
    std::vector<std::pair<int, double>> targets;
    for (int b : budgets) targets.emplace_back(b, -1.0);
    for (double r : ratios) targets.emplace_back(budget_for_ratio(r, c.recall->task.len_k), r);
    for (const auto& [b, ratio] : targets) {
      if (b >= c.recall->task.len_k) continue;
      auto r = std::make_shared<RecallCaseSpec>(*c.recall);
      r->method = kv_config_with_budget(r->method_entry, b);
      r->budget = b;
      r->compression_ratio = ratio;
      CaseSpec n = c;
      n.recall = std::move(r);
      if (seen.insert(n.key()).second) out.push_back(std::move(n));
    }
  }
  return out;
}

}  // namespace attnbench
