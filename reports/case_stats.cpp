#include "case_stats.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace attnbench::reports {

namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> sample_seconds(const CaseResult& c) {
  std::vector<double> v;
  for (const Sample& s : c.samples)
    if (std::isfinite(s.seconds)) v.push_back(s.seconds);
  return v;
}

}  // namespace

std::optional<double> median_seconds(const CaseResult& c) {
  if (auto m = c.metric_value("time_median")) return m;
  auto v = sample_seconds(c);
  if (v.empty()) return std::nullopt;
  return median_of(std::move(v));
}

std::optional<double> mad_seconds(const CaseResult& c) {
  if (auto m = c.metric_value("time_mad")) return m;
  auto v = sample_seconds(c);
  if (v.size() < 2) return std::nullopt;
  double med = median_of(v);
  for (double& x : v) x = std::fabs(x - med);
  return median_of(std::move(v));
}

std::string shape_without_length(const CaseResult& c) {
  std::string out;
  auto add = [&](const char* name, const std::optional<int64_t>& v) {
    if (!v) return;
    if (!out.empty()) out += ',';
    out += fmt::format("{}={}", name, *v);
  };
  add("b", c.batch);
  add("hq", c.heads_q);
  add("hkv", c.heads_kv);
  add("d", c.head_dim);
  add("page", c.page_size);
  // Prefill sweeps keep Lq = Lk, so only a fixed, different Lq (decode) is a parameter.
  if (c.len_q && c.len_k && *c.len_q != *c.len_k) add("lq", c.len_q);
  return out;
}

double attended_work_factor(const CaseResult& c) {
  const auto f = c.metric_value("attended_fraction");
  return f && std::isfinite(*f) && *f > 0 && *f <= 1 ? *f : 1.0;
}

}  // namespace attnbench::reports
