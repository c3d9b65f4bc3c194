// Option parsing and capability checks of the `linear` and `based` variants.
#include <algorithm>
#include <charconv>
#include <string>

#include "linear_attention.h"

AB_CPU_NS_BEGIN
namespace {

constexpr double kMaxStateBytes = 64.0 * (1 << 20);  // S per head, fp32

Check invalid(std::string why) { return {AB_INVALID_ARGUMENT, std::move(why)}; }

/// Reads integer option `key` into *out (unchanged when absent); must lie in [lo, hi].
Check int_option(const VariantOptions& o, const char* variant, const char* key, int lo, int hi, int* out) {
  const auto it = o.find(key);
  if (it == o.end()) return {};
  int v = 0;
  const std::string& s = it->second;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < lo || v > hi)
    return invalid(std::string(variant) + ": option " + key + "='" + s + "' must be an integer in [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  *out = v;
  return {};
}

Check unknown_options(const VariantOptions& o, const char* variant, std::initializer_list<const char*> known) {
  for (const auto& [key, value] : o) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok) return invalid(std::string(variant) + ": unknown option '" + key + "'");
  }
  return {};
}

/// Mask / logit restrictions and the state-size cap shared by both variants.
Check common_checks(const ab_attention_args& a, const LinearOptions& opt, const char* variant) {
  if (a.softcap > 0) return {AB_UNSUPPORTED, std::string(variant) + ": no softcap (linear attention has no logits to cap)"};
  if (a.window_left >= 0 || a.window_right >= 0)
    return {AB_UNSUPPORTED, std::string(variant) + ": no mask window (based takes its window as option swa=)"};
  const double D = static_cast<double>(linear_attn::feature_dim(opt.feature, opt.fdim, opt.features));
  if (D * a.head_dim * 4.0 > kMaxStateBytes)
    return {AB_UNSUPPORTED, std::string(variant) + ": state of " + std::to_string(static_cast<long long>(D)) + " x " +
                                std::to_string(a.head_dim) + " fp32 exceeds 64 MiB per head (lower fdim)"};
  return {};
}

}  // namespace

Check parse_linear_options(const ab_attention_args& a, const VariantOptions& o, LinearOptions* out) {
  LinearOptions opt;
  if (Check c = unknown_options(o, "linear", {"feature", "block", "features", "fdim"}); !c.ok()) return c;
  if (auto it = o.find("feature"); it != o.end() && !linear_attn::parse_feature_kind(it->second, &opt.feature))
    return invalid("linear: feature='" + it->second + "' must be elu1, relu, taylor or performer");
  opt.fdim = opt.feature == linear_attn::FeatureKind::taylor ? std::min(16, a.head_dim) : a.head_dim;
  if (Check c = int_option(o, "linear", "block", 1, 4096, &opt.block); !c.ok()) return c;
  if (Check c = int_option(o, "linear", "features", 1, 8192, &opt.features); !c.ok()) return c;
  if (Check c = int_option(o, "linear", "fdim", 1, a.head_dim, &opt.fdim); !c.ok()) return c;
  *out = opt;
  return {};
}

Check parse_based_options(const ab_attention_args& a, const VariantOptions& o, LinearOptions* out) {
  LinearOptions opt;
  opt.feature = linear_attn::FeatureKind::taylor;
  opt.fdim = std::min(16, a.head_dim);
  if (Check c = unknown_options(o, "based", {"fdim", "swa", "block", "linear"}); !c.ok()) return c;
  if (Check c = int_option(o, "based", "fdim", 1, a.head_dim, &opt.fdim); !c.ok()) return c;
  if (Check c = int_option(o, "based", "swa", 1, 1 << 30, &opt.swa); !c.ok()) return c;
  if (Check c = int_option(o, "based", "block", 1, 4096, &opt.block); !c.ok()) return c;
  int lin = 1;
  if (Check c = int_option(o, "based", "linear", 0, 1, &lin); !c.ok()) return c;
  opt.linear = lin != 0;
  *out = opt;
  return {};
}

Check linear_supports(const ab_attention_args& a, const VariantOptions& o) {
  LinearOptions opt;
  if (Check c = parse_linear_options(a, o, &opt); !c.ok()) return c;
  return common_checks(a, opt, "linear");
}

Check based_supports(const ab_attention_args& a, const VariantOptions& o) {
  LinearOptions opt;
  if (Check c = parse_based_options(a, o, &opt); !c.ok()) return c;
  if (!a.causal) return {AB_UNSUPPORTED, "based: causal only (a decoder layer); add 'causal'"};
  return common_checks(a, opt, "based");
}

AB_CPU_NS_END
