#include "change_points.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compare_mann_whitney.h"

namespace attnbench::history {

namespace {

double median_of(std::span<const double> v) {
  std::vector<double> s(v.begin(), v.end());
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  if (n == 0) return 0;
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

struct Split {
  size_t at = 0;
  double p = 1;
  double shift = 0;  // |log median right - log median left|
};

void segment(std::span<const double> logs, size_t lo, size_t hi, int depth,
             const ChangePointOptions& o, std::vector<ChangePoint>& out) {
  const size_t n = hi - lo;
  const size_t m = std::max<size_t>(o.min_segment, 1);
  if (depth >= o.max_depth || n < 2 * m) return;
  const size_t candidates = n - 2 * m + 1;
  Split best;
  bool found = false;
  for (size_t k = lo + m; k + m <= hi; ++k) {
    auto left = logs.subspan(lo, k - lo);
    auto right = logs.subspan(k, hi - k);
    const double p = compare::mann_whitney_u(left, right).p_value;
    const double shift = std::fabs(median_of(right) - median_of(left));
    if (!found || p < best.p || (p == best.p && shift > best.shift)) {
      best = {k, p, shift};
      found = true;
    }
  }
  if (!found) return;
  const double p_adj = o.bonferroni ? best.p * static_cast<double>(candidates) : best.p;
  // The medians compared as a ratio: exp(|log shift|) - 1 > min_shift.
  if (p_adj > o.alpha || std::expm1(best.shift) <= o.min_shift) return;
  ChangePoint cp;
  cp.index = best.at;
  cp.p_value = best.p;
  out.push_back(cp);
  segment(logs, lo, best.at, depth + 1, o, out);
  segment(logs, best.at, hi, depth + 1, o, out);
}

}  // namespace

std::vector<ChangePoint> detect_change_points(std::span<const double> values,
                                              const ChangePointOptions& options) {
  std::vector<double> logs;
  logs.reserve(values.size());
  for (double v : values) {
    if (!std::isfinite(v) || v <= 0)
      throw std::invalid_argument("detect_change_points: values must be finite and > 0");
    logs.push_back(std::log(v));
  }
  std::vector<ChangePoint> out;
  segment(logs, 0, logs.size(), 0, options, out);
  std::sort(out.begin(), out.end(),
            [](const ChangePoint& a, const ChangePoint& b) { return a.index < b.index; });
  // Medians of the final segments on either side of each change point.
  for (size_t i = 0; i < out.size(); ++i) {
    const size_t from = i == 0 ? 0 : out[i - 1].index;
    const size_t to = i + 1 < out.size() ? out[i + 1].index : values.size();
    out[i].before_median = median_of(values.subspan(from, out[i].index - from));
    out[i].after_median = median_of(values.subspan(out[i].index, to - out[i].index));
  }
  return out;
}

}  // namespace attnbench::history
