#include "suite_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "counter_rng.h"
#include "recall_suite.h"

namespace attnbench {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::vector<std::string> kAxes = {"batch", "heads_q", "heads_kv", "gqa", "len_q", "len_k", "len",
                                        "head_dim", "dtype", "page_size", "varlen", "shared_prefix"};

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", where, why));
}

int as_int(const json& v, const std::string& where) {
  if (!v.is_number_integer()) fail(where, fmt::format("expected an integer, got {}", v.dump()));
  return v.get<int>();
}

/// Applies one axis value to a shape (gqa: group size or "mqa"; len: both lengths).
void apply_axis(Shape& s, const std::string& axis, const json& v, const std::string& where) {
  if (axis == "dtype") {
    if (!v.is_string()) fail(where, "dtype must be a string");
    try { s.dtype = parse_dtype(v.get<std::string>()); } catch (const std::exception& e) { fail(where, e.what()); }
  } else if (axis == "varlen") {
    if (!v.is_boolean()) fail(where, "varlen must be true or false");
    s.varlen = v.get<bool>();
  } else if (axis == "gqa") {
    if (v.is_string() && v.get<std::string>() == "mqa") s.heads_kv = 1;
    else {
      const int g = as_int(v, where);
      if (g < 1 || s.heads_q % g) fail(where, fmt::format("gqa {} does not divide heads_q {}", g, s.heads_q));
      s.heads_kv = s.heads_q / g;
    }
  } else if (axis == "len") {
    s.len_q = s.len_k = as_int(v, where);
  } else {
    const int x = as_int(v, where);
    if (axis == "batch") s.batch = x;
    else if (axis == "heads_q") s.heads_q = x;
    else if (axis == "heads_kv") s.heads_kv = x;
    else if (axis == "len_q") s.len_q = x;
    else if (axis == "len_k") s.len_k = x;
    else if (axis == "head_dim") s.head_dim = x;
    else if (axis == "page_size") s.page_size = x;
    else if (axis == "shared_prefix") s.shared_prefix = x;
  }
}

/// Axis values as a list (a scalar is a one-element list). Order of application matters
/// for gqa (needs heads_q), so axes are applied in kAxes order.
std::vector<json> values_of(const json& v) { return v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v}; }

void check_keys(const json& obj, const std::vector<std::string>& allowed, const std::string& where) {
  for (const auto& [key, _] : obj.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(where, fmt::format("unknown field '{}' (allowed: {})", key, fmt::join(allowed, ", ")));
}

void expand_group(Suite& suite, const json& g, const json& defaults, bool quick, const std::string& where) {
  check_keys(g, {"name", "phase", "variants", "axes", "quick", "check", "repetitions", "min_time"}, where);
  if (!g.contains("name") || !g["name"].is_string()) fail(where, "group needs a string 'name'");
  const std::string name = g["name"];
  const std::string gwhere = fmt::format("{} group '{}'", where, name);
  if (quick && g.contains("quick") && g["quick"].is_boolean() && !g["quick"].get<bool>()) return;
  if (!g.contains("variants") || !g["variants"].is_array() || g["variants"].empty())
    fail(gwhere, "'variants' must be a non-empty list of configuration strings");

  json axes = defaults.value("axes", json::object());
  if (g.contains("axes")) {
    if (!g["axes"].is_object()) fail(gwhere, "'axes' must be an object");
    for (const auto& [k, v] : g["axes"].items()) axes[k] = v;
  }
  // The quick form may narrow the axes and replace the variant list.
  json variants = g["variants"];
  if (quick && g.contains("quick") && g["quick"].is_object()) {
    check_keys(g["quick"], {"axes", "variants"}, gwhere + " quick");
    const json quick_axes = g["quick"].value("axes", json::object());
    for (const auto& [k, v] : quick_axes.items()) axes[k] = v;
    if (g["quick"].contains("variants")) {
      variants = g["quick"]["variants"];
      if (!variants.is_array() || variants.empty())
        fail(gwhere + " quick", "'variants' must be a non-empty list of configuration strings");
    }
  }
  for (const auto& [k, v] : axes.items()) {
    if (std::find(kAxes.begin(), kAxes.end(), k) == kAxes.end())
      fail(gwhere, fmt::format("unknown axis '{}' (axes: {})", k, fmt::join(kAxes, ", ")));
    if (v.is_array() && v.empty()) fail(gwhere, fmt::format("axis '{}' has no values", k));
  }

  CaseSpec proto;
  proto.suite = suite.name;
  proto.suite_file_hash = suite.file_hash;
  proto.group = name;
  proto.phase = g.value("phase", defaults.value("phase", std::string("correctness")));
  const std::string check = g.value("check", defaults.value("check", std::string("sampled")));
  if (check == "full") proto.check = CheckMode::kFull;
  else if (check == "sampled") proto.check = CheckMode::kSampled;
  else if (check == "none") proto.check = CheckMode::kNone;
  else fail(gwhere, fmt::format("check '{}' must be full, sampled or none", check));
  proto.repetitions = g.value("repetitions", defaults.value("repetitions", 5));
  proto.min_time = g.value("min_time", defaults.value("min_time", 0.05));
  if (proto.repetitions < 1 || proto.repetitions > 1000) fail(gwhere, "repetitions must be in 1..1000");
  if (!(proto.min_time >= 0 && proto.min_time <= 60)) fail(gwhere, "min_time must be in 0..60 seconds");

  // Cartesian product of axis values (nvbench-style), applied in a fixed axis order.
  std::vector<Shape> shapes{Shape{}};
  for (const std::string& axis : kAxes) {
    if (!axes.contains(axis)) continue;
    std::vector<Shape> next;
    for (const Shape& s : shapes)
      for (const json& v : values_of(axes[axis])) {
        Shape t = s;
        apply_axis(t, axis, v, fmt::format("{} axis '{}'", gwhere, axis));
        next.push_back(t);
      }
    shapes.swap(next);
  }
  for (const json& vj : variants) {
    if (!vj.is_string()) fail(gwhere, "variants must be strings");
    VariantConfig cfg;
    try { cfg = parse_variant_config(vj.get<std::string>()); } catch (const std::exception& e) { fail(gwhere, e.what()); }
    for (const Shape& s : shapes) {
      try { s.validate(); } catch (const std::exception& e) { fail(gwhere, e.what()); }
      CaseSpec c = proto;
      c.config = cfg;
      c.shape = s;
      suite.cases.push_back(std::move(c));
    }
  }
}

/// Canonical form of a config named by a target: a variant config, else (a KV method
/// or a recall config such as "kv=duo") the string as written.
std::string canonical_config(const std::string& text) {
  try {
    return parse_variant_config(text).canonical();
  } catch (const std::exception&) {
    return text;
  }
}

/// Whether a config named by a target selects a case's config: equal, or the bare name
/// of a parameterised config ("kv=duo" selects "kv=duo:recent=384,..."). The report
/// (reports/reproduce_targets.cpp) applies the same rule.
bool target_selects(const std::string& named, const std::string& config) {
  return config == named || (config.size() > named.size() && config.compare(0, named.size(), named) == 0 &&
                             config[named.size()] == ':' && named.find(':') == std::string::npos);
}

/// Validates one reproduction target against the cases its group expanded to and returns
/// it in canonical form. Measures (read by reports/reproduce_targets):
///   speedup:      time_median(baseline) / time_median(variant) per matching shape
///   memory_ratio: (I/O bytes + host_memory_peak_extra) of baseline / of variant
///   metric:       the value of `metric` of every case whose config is in `configs`
/// `expect` ([lo, hi], or {config: [lo, hi]}) is the range that counts as reproduced.
json parse_target(const json& t, const std::vector<CaseSpec>& group_cases, const std::string& where) {
  if (!t.is_object()) fail(where, "'target' must be an object");
  check_keys(t, {"source", "claim", "published", "measure", "variant", "baseline", "metric", "configs", "expect", "note"},
             where + " target");
  for (const char* k : {"source", "claim", "published", "measure"})
    if (!t.contains(k) || !t[k].is_string()) fail(where, fmt::format("target needs a string '{}'", k));
  json out = t;
  std::set<std::string> all;
  for (const CaseSpec& c : group_cases) all.insert(c.config_string());
  const auto known = [&](const std::string& named) {
    return std::any_of(all.begin(), all.end(), [&](const std::string& c) { return target_selects(named, c); });
  };
  const auto need_config = [&](const char* key) {
    if (!t.contains(key) || !t[key].is_string()) fail(where, fmt::format("target needs a string '{}'", key));
    const std::string c = canonical_config(t[key]);
    if (!known(c)) fail(where, fmt::format("target {} '{}' is not a config of this group", key, c));
    out[key] = c;
  };
  const std::string measure = t["measure"];
  if (measure == "speedup" || measure == "memory_ratio") {
    need_config("variant");
    need_config("baseline");
  } else if (measure == "metric") {
    if (!t.contains("metric") || !t["metric"].is_string()) fail(where, "target needs a string 'metric'");
    if (!t.contains("configs") || !t["configs"].is_array() || t["configs"].empty())
      fail(where, "target 'configs' must be a non-empty list");
    out["configs"] = json::array();
    for (const json& c : t["configs"]) {
      if (!c.is_string()) fail(where, "target configs must be strings");
      const std::string name = canonical_config(c);
      if (!known(name)) fail(where, fmt::format("target config '{}' is not a config of this group", name));
      out["configs"].push_back(name);
    }
  } else {
    fail(where, fmt::format("target measure '{}' must be speedup, memory_ratio or metric", measure));
  }
  const auto check_range = [&](const json& r) {
    if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number() || r[0] > r[1])
      fail(where, "target expect must be [low, high] with low <= high");
  };
  if (t.contains("expect")) {
    if (t["expect"].is_object()) {
      json e = json::object();
      for (const auto& [k, v] : t["expect"].items()) {
        check_range(v);
        const std::string name = canonical_config(k);
        if (!known(name)) fail(where, fmt::format("target expect names '{}', not a config of this group", name));
        e[name] = v;
      }
      out["expect"] = e;
    } else {
      check_range(t["expect"]);
    }
  }
  return out;
}

/// A group's "target" (one object, or a list when several figures come from the same
/// cases) as the JSON array stored with each of its cases.
std::string parse_targets(const json& t, const std::vector<CaseSpec>& group_cases, const std::string& where) {
  json out = json::array();
  if (t.is_array()) {
    if (t.empty()) fail(where, "'target' must not be an empty list");
    for (const json& one : t) out.push_back(parse_target(one, group_cases, where));
  } else {
    out.push_back(parse_target(t, group_cases, where));
  }
  return out.dump();
}

}  // namespace

Suite load_suite(const std::string& path, bool quick) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(fmt::format("cannot read suite file '{}'", path));
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(fmt::format("{}: malformed JSON at byte {}: {}", path, e.byte,
                                            std::string(e.what()).substr(std::string(e.what()).rfind(':') + 2)));
  }
  if (!doc.is_object()) fail(path, "a suite file must be a JSON object");
  check_keys(doc, {"suite", "kind", "description", "defaults", "groups"}, path);
  // "kind": "recall" makes every group a recall group (recall_suite.h); an attention
  // suite may still hold single recall groups (those with a "task").
  if (doc.contains("kind") && !doc["kind"].is_string()) fail(path, "'kind' must be a string");
  const std::string kind = doc.value("kind", std::string("attention"));
  if (kind != "attention" && kind != "recall") fail(path, fmt::format("kind '{}' must be attention or recall", kind));
  Suite suite;
  suite.path = path;
  suite.name = doc.value("suite", fs::path(path).stem().string());
  suite.description = doc.value("description", std::string());
  suite.file_hash = fmt::format("{:016x}", gen::hash_string(text.c_str()));
  const json defaults = doc.value("defaults", json::object());
  if (!defaults.is_object()) fail(path, "'defaults' must be an object");
  if (kind == "recall") check_recall_defaults(defaults, path);
  else check_keys(defaults, {"axes", "phase", "check", "repetitions", "min_time"}, path + " defaults");
  if (!doc.contains("groups") || !doc["groups"].is_array() || doc["groups"].empty())
    fail(path, "'groups' must be a non-empty list");
  try {
    for (json g : doc["groups"]) {
      if (!g.is_object()) fail(path, "each group must be an object");
      // A group's reproduction target is checked against the cases it expands to.
      const json target = g.contains("target") ? g["target"] : json();
      g.erase("target");
      const size_t first = suite.cases.size();
      if (kind == "recall") expand_recall_group(suite, g, defaults, quick, path);
      else if (is_recall_group(g)) {
        // Attention defaults (axes, check) mean nothing to a recall group; timing settings carry over.
        json timing = json::object();
        for (const char* k : {"repetitions", "min_time"})
          if (defaults.contains(k)) timing[k] = defaults[k];
        expand_recall_group(suite, g, timing, quick, path);
      } else {
        expand_group(suite, g, defaults, quick, path);
      }
      if (!target.is_null() && suite.cases.size() > first) {
        const std::vector<CaseSpec> group_cases(suite.cases.begin() + static_cast<std::ptrdiff_t>(first),
                                                suite.cases.end());
        const std::string text =
            parse_targets(target, group_cases, fmt::format("{} group '{}'", path, g.value("name", std::string())));
        for (size_t i = first; i < suite.cases.size(); ++i) suite.cases[i].target = text;
      }
    }
  } catch (const json::exception& e) {
    fail(path, fmt::format("wrong type of a field ({})", e.what()));
  }
  return suite;
}

std::string default_suites_dir() {
  if (const char* env = std::getenv("ATTNBENCH_SUITES_DIR")) return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "attnbench" / "suites";
    if (fs::is_directory(installed, ec)) return installed.string();
  }
  return std::string(ATTNBENCH_SOURCE_DIR) + "/suites";
}

std::vector<std::string> list_suites(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string resolve_suite(const std::string& dir, const std::string& name_or_path) {
  std::error_code ec;
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".json")) {
    if (!fs::is_regular_file(name_or_path, ec))
      throw std::invalid_argument(fmt::format("suite file '{}' does not exist", name_or_path));
    return name_or_path;
  }
  const fs::path p = fs::path(dir) / (name_or_path + ".json");
  if (!fs::is_regular_file(p, ec))
    throw std::invalid_argument(fmt::format("unknown suite '{}' (available: {})", name_or_path,
                                            fmt::join(list_suites(dir), ", ")));
  return p.string();
}

}  // namespace attnbench
