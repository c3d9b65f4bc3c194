#include "suite_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <sstream>

#include "counter_rng.h"
#include "recall_suite.h"
#include "trace_suite.h"

namespace attnbench {
namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Checked readers (suite_file.h). Every value of a suite file passes through one of these,
// so a range or type is checked in one place and no nlohmann message reaches the user.
namespace suite_json {

void fail(const std::string& where, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", where, why));
}

namespace {

/// Length of the valid, printable UTF-8 sequence starting at s[i], or 0 when the byte there
/// must be escaped (a control, a stray continuation, an overlong or truncated sequence, a
/// surrogate, or a C1 control).
size_t printable_utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  if (b >= 0x20 && b < 0x7f) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if ((b & 0xe0) == 0xc0) n = 2, cp = b & 0x1f;
  else if ((b & 0xf0) == 0xe0) n = 3, cp = b & 0x0f;
  else if ((b & 0xf8) == 0xf0) n = 4, cp = b & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)) return 0;
  return n;
}

/// Number as written in messages: integers exactly, others with %g precision.
std::string number_text(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return fmt::format("{:g}", v.get<double>());
}

}  // namespace

std::string escape_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = printable_utf8_length(text, i);
    if (n == 0) {
      out += fmt::format("\\x{:02X}", static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::string: {
      // Shortened at a character boundary: the message quotes content, it need not hold all of it.
      const std::string& s = v.get_ref<const std::string&>();
      constexpr size_t kShown = 40;
      if (s.size() <= kShown) return fmt::format("string \"{}\"", escape_text(s));
      size_t cut = kShown;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
      return fmt::format("string \"{}...\"", escape_text(std::string_view(s).substr(0, cut)));
    }
    case json::value_t::boolean: return v.get<bool>() ? "boolean true" : "boolean false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number " + number_text(v);
    case json::value_t::null: return "null";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return v.type_name();
  }
}

int read_int(const json& v, const std::string& where, IntRange r) {
  if (!v.is_number_integer()) fail(where, fmt::format("expected an integer, got {}", describe(v)));
  // Compared in the representation nlohmann chose (non-negative literals are unsigned), so
  // 2^64-1 is not taken for -1 and nothing is narrowed before it is known to fit.
  bool in_range;
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    in_range = x <= static_cast<uint64_t>(r.hi) && (r.lo <= 0 || x >= static_cast<uint64_t>(r.lo));
  } else {
    const int64_t x = v.get<int64_t>();
    in_range = x >= r.lo && x <= r.hi;
  }
  if (!in_range) {
    if (r.lo == 0 && !v.is_number_unsigned() && v.get<int64_t>() < 0)
      fail(where, fmt::format("{} must not be negative, got {}", r.what, number_text(v)));
    fail(where, fmt::format("{} must be in {}..{}, got {}", r.what, r.lo, r.hi, number_text(v)));
  }
  return static_cast<int>(v.get<int64_t>());
}

double read_number(const json& v, const std::string& where, double lo, double hi, const char* what) {
  if (!v.is_number()) fail(where, fmt::format("expected a number, got {}", describe(v)));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    fail(where, fmt::format("{} must be in {:g}..{:g}, got {}", what, lo, hi, number_text(v)));
  return x;
}

std::string read_string(const json& v, const std::string& where) {
  if (!v.is_string()) fail(where, fmt::format("expected a string, got {}", describe(v)));
  return v.get<std::string>();
}

bool read_bool(const json& v, const std::string& where) {
  if (!v.is_boolean()) fail(where, fmt::format("expected true or false, got {}", describe(v)));
  return v.get<bool>();
}

const json* member(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

void check_keys(const json& obj, const std::vector<std::string>& allowed, const std::string& where) {
  if (!obj.is_object()) fail(where, fmt::format("expected an object, got {}", describe(obj)));
  for (const auto& [key, _] : obj.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(where, fmt::format("unknown field '{}' (allowed: {})", key, fmt::join(allowed, ", ")));
}

}  // namespace suite_json

namespace {
using namespace suite_json;
using namespace suite_limits;

const std::vector<std::string> kAxes = {"batch", "heads_q", "heads_kv", "gqa", "len_q", "len_k", "len",
                                        "head_dim", "head_dim_v", "dtype", "page_size", "varlen", "shared_prefix"};

/// Range of an integer axis of an attention group (Shape::validate checks the same bounds).
IntRange axis_range(const std::string& axis) {
  if (axis == "batch") return {1, kMaxBatch, "batch"};
  if (axis == "heads_q" || axis == "heads_kv") return {1, kMaxHeads, "head counts"};
  if (axis == "gqa") return {1, kMaxHeads, "gqa"};
  if (axis == "head_dim") return {1, kMaxAttentionHeadDim, "head_dim"};
  if (axis == "head_dim_v") return {0, kMaxAttentionHeadDim, "head_dim_v"};
  if (axis == "page_size") return {0, kMaxPageSize, "page_size"};
  if (axis == "shared_prefix") return {0, kMaxLen, "shared_prefix"};
  return {0, kMaxLen, "lengths"};  // len, len_q, len_k
}

/// Checks one value of an axis on its own (type and range); rules between axes (gqa
/// divides heads_q, the shape as a whole) are checked once the layers are merged.
void check_axis_value(const std::string& axis, const json& v, const std::string& where) {
  if (axis == "dtype") {
    const std::string name = read_string(v, where);
    try { parse_dtype(name); } catch (const std::invalid_argument& e) { fail(where, e.what()); }
  } else if (axis == "varlen") {
    read_bool(v, where);
  } else if (axis == "gqa" && v.is_string()) {
    if (v.get_ref<const std::string&>() != "mqa")
      fail(where, fmt::format("gqa must be a group size or \"mqa\", got {}", describe(v)));
  } else {
    read_int(v, where, axis_range(axis));
  }
}

/// Applies one axis value to a shape (gqa: group size or "mqa"; len: both lengths). The value
/// is checked again (cheap), so this never narrows an unchecked number whatever the caller did.
void apply_axis(Shape& s, const std::string& axis, const json& v, const std::string& where) {
  check_axis_value(axis, v, where);
  if (axis == "dtype") s.dtype = parse_dtype(v.get<std::string>());
  else if (axis == "varlen") s.varlen = v.get<bool>();
  else if (axis == "gqa" && v.is_string()) s.heads_kv = 1;
  else {
    const int x = read_int(v, where, axis_range(axis));
    if (axis == "gqa") {
      if (s.heads_q % x) fail(where, fmt::format("gqa {} does not divide heads_q {}", x, s.heads_q));
      s.heads_kv = s.heads_q / x;
    } else if (axis == "len") s.len_q = s.len_k = x;
    else if (axis == "batch") s.batch = x;
    else if (axis == "heads_q") s.heads_q = x;
    else if (axis == "heads_kv") s.heads_kv = x;
    else if (axis == "len_q") s.len_q = x;
    else if (axis == "len_k") s.len_k = x;
    else if (axis == "head_dim") s.head_dim = x;
    else if (axis == "head_dim_v") s.head_dim_v = x;
    else if (axis == "page_size") s.page_size = x;
    else if (axis == "shared_prefix") s.shared_prefix = x;
  }
}

/// Axis values as a list (a scalar is a one-element list). Order of application matters
/// for gqa (needs heads_q), so axes are applied in kAxes order.
std::vector<json> values_of(const json& v) { return v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v}; }

/// Checks one layer of axes (defaults, group or quick block): known names, non-empty
/// lists, every value of the right type and range. `where` names the layer ("... axes").
void check_axes_layer(const json& axes, const std::string& where) {
  if (!axes.is_object()) fail(where, fmt::format("expected an object, got {}", describe(axes)));
  for (const auto& [k, v] : axes.items()) {
    if (std::find(kAxes.begin(), kAxes.end(), k) == kAxes.end())
      fail(where, fmt::format("unknown axis '{}' (axes: {})", k, fmt::join(kAxes, ", ")));
    const std::string w = fmt::format("{}.{}", where, k);
    if (v.is_array() && v.empty()) fail(w, fmt::format("axis '{}' has no values", k));
    for (const json& x : values_of(v)) check_axis_value(k, x, w);
  }
}

/// Parses a list of variant configs (a non-empty list of strings); windows are bounded
/// by the longest length so that q + window cannot overflow an int in a kernel.
std::vector<VariantConfig> parse_variant_list(const json& variants, const std::string& where) {
  if (!variants.is_array() || variants.empty())
    fail(where, "'variants' must be a non-empty list of configuration strings");
  std::vector<VariantConfig> out;
  for (const json& vj : variants) {
    if (!vj.is_string()) fail(where, fmt::format("variants must be strings, got {}", describe(vj)));
    try {
      out.push_back(parse_variant_config(vj.get<std::string>()));
    } catch (const std::exception& e) {
      fail(where, e.what());
    }
    if (out.back().window_left > kMaxLen || out.back().window_right > kMaxLen)
      fail(where, fmt::format("variant '{}': window sizes must be at most {}", vj.get<std::string>(), kMaxLen));
  }
  return out;
}

/// `obj[key]` as an int in `r` ("WHERE key"), or `fallback` when absent.
int int_field(const json& obj, const std::string& key, const std::string& where, IntRange r, int fallback) {
  const json* v = member(obj, key);
  return v ? read_int(*v, fmt::format("{} {}", where, key), r) : fallback;
}

/// `obj[key]` as a string ("WHERE key"), or `fallback` when absent.
std::string string_field(const json& obj, const std::string& key, const std::string& where, std::string fallback) {
  const json* v = member(obj, key);
  return v ? read_string(*v, fmt::format("{} {}", where, key)) : fallback;
}

/// `obj[key]` as a number in [lo, hi] ("WHERE key"), or `fallback` when absent.
double number_field(const json& obj, const std::string& key, const std::string& where, double lo, double hi,
                    double fallback) {
  const json* v = member(obj, key);
  return v ? read_number(*v, fmt::format("{} {}", where, key), lo, hi, key.c_str()) : fallback;
}

/// CheckMode of a "check" string.
CheckMode parse_check(const std::string& check, const std::string& where) {
  if (check == "full") return CheckMode::kFull;
  if (check == "sampled") return CheckMode::kSampled;
  if (check == "none") return CheckMode::kNone;
  fail(where, fmt::format("check '{}' must be full, sampled or none", check));
}

/// Checks the fields an attention group and the defaults share (phase, check, timing).
void check_common_fields(const json& obj, const std::string& where) {
  string_field(obj, "phase", where, "");
  parse_check(string_field(obj, "check", where, "sampled"), where + " check");
  int_field(obj, "repetitions", where, {1, kMaxRepetitions, "repetitions"}, 1);
  number_field(obj, "min_time", where, 0, kMaxMinTime, 0);
}

/// Checks a group's "quick" (false, true or an object with axes/variants) in both modes,
/// so that a typo in it fails a full run as well as a quick one.
void check_quick(const json& g, const std::vector<std::string>& allowed, const std::string& gwhere) {
  const json* q = member(g, "quick");
  if (!q || q->is_boolean()) return;
  const std::string where = gwhere + " quick";
  if (!q->is_object()) fail(where, fmt::format("must be false, true or an object, got {}", describe(*q)));
  check_keys(*q, allowed, where);
}

/// True when --quick leaves the group out ("quick": false).
bool quick_skips(const json& g, bool quick) {
  const json* q = member(g, "quick");
  return quick && q && q->is_boolean() && !q->get<bool>();
}

/// Stops a sweep that would expand past kMaxCases (a few short lists crossed can ask for
/// billions of cases).
void check_case_count(size_t count, const std::string& where) {
  if (count > kMaxCases) fail(where, fmt::format("expands to more than {} cases", kMaxCases));
}

void expand_group(Suite& suite, const json& g, const json& defaults, bool quick, const std::string& gwhere) {
  check_keys(g, {"name", "phase", "variants", "axes", "quick", "check", "repetitions", "min_time"}, gwhere);
  check_common_fields(g, gwhere);
  check_quick(g, {"axes", "variants"}, gwhere);
  // Every layer is checked before --quick picks the ones that apply.
  const json* gaxes = member(g, "axes");
  if (gaxes) check_axes_layer(*gaxes, gwhere + " axes");
  const json* gvariants = member(g, "variants");
  if (!gvariants) fail(gwhere, "'variants' must be a non-empty list of configuration strings");
  std::vector<VariantConfig> configs = parse_variant_list(*gvariants, gwhere);
  const json* q = member(g, "quick");
  const json* qaxes = q ? member(*q, "axes") : nullptr;
  const json* qvariants = q ? member(*q, "variants") : nullptr;
  if (qaxes) check_axes_layer(*qaxes, gwhere + " quick.axes");
  std::vector<VariantConfig> quick_configs;
  if (qvariants) quick_configs = parse_variant_list(*qvariants, gwhere + " quick");
  if (quick_skips(g, quick)) return;

  json axes = defaults.value("axes", json::object());
  if (gaxes) for (const auto& [k, v] : gaxes->items()) axes[k] = v;
  // The quick form may narrow the axes and replace the variant list.
  if (quick && qaxes) for (const auto& [k, v] : qaxes->items()) axes[k] = v;
  if (quick && qvariants) configs = quick_configs;

  CaseSpec proto;
  proto.suite = suite.name;
  proto.suite_file_hash = suite.file_hash;
  proto.group = g.value("name", std::string());
  const std::string dwhere = suite.path + ": defaults";
  proto.phase = string_field(g, "phase", gwhere, string_field(defaults, "phase", dwhere, "correctness"));
  proto.check = parse_check(string_field(g, "check", gwhere, string_field(defaults, "check", dwhere, "sampled")),
                            gwhere + " check");
  const IntRange reps{1, kMaxRepetitions, "repetitions"};
  proto.repetitions = int_field(g, "repetitions", gwhere, reps, int_field(defaults, "repetitions", dwhere, reps, 5));
  proto.min_time = number_field(g, "min_time", gwhere, 0, kMaxMinTime,
                                number_field(defaults, "min_time", dwhere, 0, kMaxMinTime, 0.05));

  // Cartesian product of axis values (nvbench-style), applied in a fixed axis order.
  std::vector<Shape> shapes{Shape{}};
  for (const std::string& axis : kAxes) {
    if (!axes.contains(axis)) continue;
    const std::vector<json> values = values_of(axes[axis]);
    check_case_count(shapes.size() * values.size(), gwhere);
    std::vector<Shape> next;
    for (const Shape& s : shapes)
      for (const json& v : values) {
        Shape t = s;
        apply_axis(t, axis, v, fmt::format("{} axes.{}", gwhere, axis));
        next.push_back(t);
      }
    shapes.swap(next);
  }
  for (const Shape& s : shapes)
    try { s.validate(); } catch (const std::invalid_argument& e) { fail(gwhere, e.what()); }
  check_case_count(suite.cases.size() + configs.size() * shapes.size(), gwhere);
  for (const VariantConfig& cfg : configs)
    for (const Shape& s : shapes) {
      CaseSpec c = proto;
      c.config = cfg;
      c.shape = s;
      suite.cases.push_back(std::move(c));
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

/// A target's [low, high] range: two finite numbers, low <= high.
void check_range(const json& r, const std::string& where) {
  if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number() ||
      !std::isfinite(r[0].get<double>()) || !std::isfinite(r[1].get<double>()) || r[0] > r[1])
    fail(where, "target expect must be [low, high] with low <= high");
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
  const auto need_string = [&](const char* key) {
    const json* v = member(t, key);
    if (!v || !v->is_string()) fail(where, fmt::format("target needs a string '{}'", key));
    return v->get<std::string>();
  };
  for (const char* k : {"source", "claim", "published", "measure"}) need_string(k);
  json out = t;
  std::set<std::string> all;
  for (const CaseSpec& c : group_cases) all.insert(c.config_string());
  const auto known = [&](const std::string& named) {
    return std::any_of(all.begin(), all.end(), [&](const std::string& c) { return target_selects(named, c); });
  };
  const auto need_config = [&](const char* key) {
    const std::string c = canonical_config(need_string(key));
    if (!known(c)) fail(where, fmt::format("target {} '{}' is not a config of this group", key, c));
    out[key] = c;
  };
  const std::string measure = need_string("measure");
  if (measure == "speedup" || measure == "memory_ratio") {
    need_config("variant");
    need_config("baseline");
  } else if (measure == "metric") {
    need_string("metric");
    const json* configs = member(t, "configs");
    if (!configs || !configs->is_array() || configs->empty()) fail(where, "target 'configs' must be a non-empty list");
    out["configs"] = json::array();
    for (const json& c : *configs) {
      if (!c.is_string()) fail(where, "target configs must be strings");
      const std::string name = canonical_config(c.get<std::string>());
      if (!known(name)) fail(where, fmt::format("target config '{}' is not a config of this group", name));
      out["configs"].push_back(name);
    }
  } else {
    fail(where, fmt::format("target measure '{}' must be speedup, memory_ratio or metric", measure));
  }
  if (const json* expect = member(t, "expect")) {
    if (expect->is_object()) {
      json e = json::object();
      for (const auto& [k, v] : expect->items()) {
        check_range(v, where);
        const std::string name = canonical_config(k);
        if (!known(name)) fail(where, fmt::format("target expect names '{}', not a config of this group", name));
        e[name] = v;
      }
      out["expect"] = e;
    } else {
      check_range(*expect, where);
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
  // The parser only admits valid UTF-8, but dump() would throw type_error 316 on anything
  // else: replace rather than ever let that escape.
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// Parser callback that refuses a key repeated in one object (nlohmann would silently keep
/// the last one) and nesting deeper than kMaxNesting. It tracks the path of the container
/// being read ("groups[2].axes") to name it. Shared by reference: nlohmann copies callbacks.
class KeyTracker {
 public:
  explicit KeyTracker(std::string path) : path_(std::move(path)) {}

  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: open(event == json::parse_event_t::object_start); break;
      case json::parse_event_t::key: add_key(parsed.get<std::string>()); break;
      case json::parse_event_t::value: child_label(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end: open_.pop_back(); break;
    }
    return true;
  }

 private:
  struct Open {
    bool object;
    std::string label;
    std::set<std::string> keys;
    size_t next_index = 0;
  };

  /// Path of the next child of the innermost container (and counts it, in an array).
  std::string child_label() {
    if (open_.empty()) return "";
    Open& top = open_.back();
    if (top.object) return top.label.empty() ? key_ : fmt::format("{}.{}", top.label, key_);
    return fmt::format("{}[{}]", top.label, top.next_index++);
  }

  void open(bool object) {
    std::string label = child_label();
    if (open_.size() >= suite_limits::kMaxNesting)
      fail(path_, fmt::format("JSON nested deeper than {} levels at {}", suite_limits::kMaxNesting, label));
    open_.push_back({object, std::move(label), {}, 0});
  }

  void add_key(const std::string& key) {
    Open& top = open_.back();
    if (!top.keys.insert(key).second)
      fail(path_, fmt::format("duplicate key '{}' in {}", key, top.label.empty() ? "the top-level object" : top.label));
    key_ = key;
  }

  std::string path_;
  std::vector<Open> open_;
  std::string key_;  // the last key read in the innermost object
};

/// Line and column (1-based) of the byte nlohmann stopped at (`byte` counts the bytes read).
std::pair<size_t, size_t> line_column(const std::string& text, size_t byte) {
  const size_t end = std::min(byte > 0 ? byte - 1 : 0, text.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < end; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return {line, end - line_start + 1};
}

/// nlohmann's own explanation without its "[json.exception...] parse error at ...: " prefix.
std::string parse_error_detail(const std::string& what) {
  const size_t tag = what.find("] ");
  std::string rest = tag == std::string::npos ? what : what.substr(tag + 2);
  if (rest.starts_with("parse error")) {
    const size_t colon = rest.find(": ");
    if (colon != std::string::npos) rest = rest.substr(colon + 2);
  }
  return rest;
}

/// Parses the file's text, refusing duplicate keys; errors name the file, line and column.
json parse_json(const std::string& text, const std::string& path) {
  KeyTracker tracker(path);
  try {
    return json::parse(text, [&tracker](int d, json::parse_event_t e, json& j) { return tracker(d, e, j); });
  } catch (const json::parse_error& e) {
    const auto [line, column] = line_column(text, e.byte);
    throw std::invalid_argument(fmt::format("{}: malformed JSON at line {}, column {}: {}", path, line, column,
                                            parse_error_detail(e.what())));
  } catch (const json::exception& e) {  // out_of_range 406: a number literal beyond double
    throw std::invalid_argument(fmt::format("{}: malformed JSON: {}", path, parse_error_detail(e.what())));
  }
}

/// Checks the defaults of an attention suite (axes and the fields groups inherit).
void check_attention_defaults(const json& defaults, const std::string& path) {
  const std::string where = path + ": defaults";
  check_keys(defaults, {"axes", "phase", "check", "repetitions", "min_time"}, where);
  check_common_fields(defaults, where);
  if (const json* axes = member(defaults, "axes")) check_axes_layer(*axes, where + " axes");
}

/// Expands one group (attention or recall) and attaches its reproduction target.
void expand_any_group(Suite& suite, json g, const json& defaults, const std::string& kind, bool quick,
                      const std::string& where) {
  if (!g.is_object()) fail(where, fmt::format("each group must be an object, got {}", describe(g)));
  const json* name = member(g, "name");
  if (!name || !name->is_string()) fail(where, "group needs a string 'name'");
  const std::string gwhere = fmt::format("{}: group '{}'", suite.path, name->get<std::string>());
  // A group's reproduction target is checked against the cases it expands to.
  const json target = g.contains("target") ? g["target"] : json();
  g.erase("target");
  // A group's own limit on each case's run time in its worker (seconds; case_timeout.h).
  double timeout = 0;
  if (const json* t = member(g, "timeout")) timeout = read_number(*t, gwhere + " timeout", 0.001, kMaxCaseTimeout, "timeout");
  g.erase("timeout");
  const size_t first = suite.cases.size();
  if (kind == "recall") {
    expand_recall_group(suite, g, defaults, quick, gwhere);
  } else if (kind == "trace") {
    expand_trace_group(suite, g, defaults, quick, gwhere);
  } else if (is_recall_group(g)) {
    // Attention defaults (axes, check) mean nothing to a recall group; timing settings carry over.
    json timing = json::object();
    for (const char* k : {"repetitions", "min_time"})
      if (defaults.contains(k)) timing[k] = defaults[k];
    expand_recall_group(suite, g, timing, quick, gwhere);
  } else {
    expand_group(suite, g, defaults, quick, gwhere);
  }
  for (size_t i = first; i < suite.cases.size(); ++i) suite.cases[i].timeout_seconds = timeout;
  if (!target.is_null() && suite.cases.size() > first) {
    const std::vector<CaseSpec> group_cases(suite.cases.begin() + static_cast<std::ptrdiff_t>(first),
                                            suite.cases.end());
    const std::string text = parse_targets(target, group_cases, gwhere);
    for (size_t i = first; i < suite.cases.size(); ++i) suite.cases[i].target = text;
  }
}

/// parse_suite without the final escaping of the message.
Suite parse_suite_raw(const std::string& text, const std::string& path, bool quick) {
  const json doc = parse_json(text, path);
  if (!doc.is_object()) fail(path, "a suite file must be a JSON object");
  check_keys(doc, {"suite", "kind", "description", "defaults", "groups"}, path);
  // "kind": "recall" makes every group a recall group (recall_suite.h); an attention
  // suite may still hold single recall groups (those with a "task").
  const std::string kind = string_field(doc, "kind", path, "attention");
  if (kind != "attention" && kind != "recall" && kind != "trace")
    fail(path, fmt::format("kind '{}' must be attention, recall or trace", kind));
  Suite suite;
  suite.path = path;
  suite.name = string_field(doc, "suite", path, fs::path(path).stem().string());
  suite.description = string_field(doc, "description", path, "");
  suite.file_hash = fmt::format("{:016x}", gen::hash_string(text.c_str()));
  const json* defaults_field = member(doc, "defaults");
  const json defaults = defaults_field ? *defaults_field : json::object();
  if (!defaults.is_object()) fail(path, "'defaults' must be an object");
  if (kind == "recall") check_recall_defaults(defaults, path);
  else if (kind == "trace") check_trace_defaults(defaults, path);
  else check_attention_defaults(defaults, path);
  const json* groups = member(doc, "groups");
  if (!groups || !groups->is_array() || groups->empty()) fail(path, "'groups' must be a non-empty list");
  for (size_t i = 0; i < groups->size(); ++i)
    expand_any_group(suite, (*groups)[i], defaults, kind, quick, fmt::format("{}: groups[{}]", path, i));
  return suite;
}

}  // namespace

Suite parse_suite(const std::string& text, const std::string& path, bool quick) {
  try {
    return parse_suite_raw(text, path, quick);
  } catch (const std::invalid_argument& e) {
    // Messages quote file content (names, keys, variant strings): one clean line each.
    throw std::invalid_argument(escape_text(e.what()));
  } catch (const nlohmann::json::exception&) {
    // Unreachable by design (every access goes through the checked readers); kept so no
    // raw nlohmann text can ever reach the user. The fuzz build (tests/fuzz) lets it
    // through instead, so reaching this net is a finding there.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    throw;
#endif
    throw std::invalid_argument(escape_text(path + ": a field has the wrong type"));
  }
}

Suite load_suite(const std::string& path, bool quick) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(escape_text(fmt::format("cannot read suite file '{}'", path)));
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_suite(buf.str(), path, quick);
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
