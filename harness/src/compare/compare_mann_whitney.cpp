#include "compare_mann_whitney.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>

namespace attnbench::compare {
namespace {

/// Midranks of the pooled sample, doubled so that they are integers (ties give x.5).
std::vector<int> doubled_midranks(const std::vector<double>& pooled) {
  std::vector<size_t> order(pooled.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return pooled[a] < pooled[b]; });
  std::vector<int> r(pooled.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && pooled[order[j + 1]] == pooled[order[i]]) ++j;
    // Ranks i+1 .. j+1 share their mean; doubled: (i+1) + (j+1).
    for (size_t k = i; k <= j; ++k) r[order[k]] = static_cast<int>(i + j + 2);
    i = j + 1;
  }
  return r;
}

/// Number of ways to choose n of the items with each doubled rank sum (index = sum).
/// Counts reach C(20, 10) = 184756 at the exact limit: doubles hold them exactly.
std::vector<double> rank_sum_counts(const std::vector<int>& ranks, size_t n) {
  const int total = std::accumulate(ranks.begin(), ranks.end(), 0);
  std::vector<std::vector<double>> ways(n + 1, std::vector<double>(total + 1, 0.0));
  ways[0][0] = 1;
  for (size_t t = 0; t < ranks.size(); ++t)
    for (size_t k = std::min(n, t + 1); k >= 1; --k)  // descending: each item used at most once
      for (int s = total; s >= ranks[t]; --s) ways[k][s] += ways[k - 1][s - ranks[t]];
  return ways[n];
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

/// Two-sided p under the normal approximation for |U - nm/2| = dev.
double normal_p(double dev, double sigma) {
  if (!(sigma > 0)) return 1.0;
  const double z = std::max(0.0, dev - 0.5) / sigma;  // continuity correction
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

/// Pairwise differences y_j - x_i, sorted.
std::vector<double> sorted_differences(std::span<const double> x, std::span<const double> y) {
  std::vector<double> d;
  d.reserve(x.size() * y.size());
  for (double a : x)
    for (double b : y) d.push_back(b - a);
  std::sort(d.begin(), d.end());
  return d;
}

}  // namespace

double normal_quantile(double p) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("normal_quantile needs 0 < p < 1");
  // Bisection on the CDF: slow but exact to double precision, and called rarely.
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (normal_cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MannWhitney mann_whitney_u(std::span<const double> x, std::span<const double> y) {
  MannWhitney r;
  const size_t n = x.size(), m = y.size();
  if (n == 0 || m == 0) return r;
  for (double a : x)
    for (double b : y) r.u += a > b ? 1.0 : a == b ? 0.5 : 0.0;

  std::vector<double> pooled(x.begin(), x.end());
  pooled.insert(pooled.end(), y.begin(), y.end());
  const std::vector<int> ranks = doubled_midranks(pooled);
  const double nm = static_cast<double>(n) * static_cast<double>(m);

  if (n <= kExactLimit && m <= kExactLimit) {
    r.exact = true;
    const std::vector<double> counts = rank_sum_counts(ranks, n);
    const int observed = std::accumulate(ranks.begin(), ranks.begin() + static_cast<long>(n), 0);
    const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    double le = 0, ge = 0;
    for (size_t s = 0; s < counts.size(); ++s) {
      if (static_cast<int>(s) <= observed) le += counts[s];
      if (static_cast<int>(s) >= observed) ge += counts[s];
    }
    r.p_value = std::min(1.0, 2.0 * std::min(le, ge) / total);
    // The most extreme outcomes at either end give the smallest reachable p.
    size_t lo = 0, hi = counts.size() - 1;
    while (counts[lo] == 0) ++lo;
    while (counts[hi] == 0) --hi;
    r.min_p = lo == hi ? 1.0 : std::min(1.0, 2.0 * std::min(counts[lo], counts[hi]) / total);
    return r;
  }

  // Normal approximation: variance reduced by the tie groups, sum(t^3 - t).
  std::map<double, double> groups;
  for (double v : pooled) groups[v] += 1;
  double ties = 0;
  for (const auto& [value, t] : groups) ties += t * t * t - t;
  const double big_n = static_cast<double>(n + m);
  const double sigma = std::sqrt(nm / 12.0 * ((big_n + 1) - ties / (big_n * (big_n - 1))));
  r.p_value = normal_p(std::abs(r.u - nm / 2), sigma);
  r.min_p = normal_p(nm / 2, sigma);
  return r;
}

ShiftEstimate hodges_lehmann(std::span<const double> x, std::span<const double> y, double confidence) {
  if (x.empty() || y.empty()) throw std::invalid_argument("hodges_lehmann needs two non-empty samples");
  const size_t n = x.size(), m = y.size(), nm = n * m;
  const std::vector<double> d = sorted_differences(x, y);
  ShiftEstimate e;
  e.estimate = nm % 2 ? d[nm / 2] : 0.5 * (d[nm / 2 - 1] + d[nm / 2]);

  // P(U <= u) under the null without ties, the usual basis of the rank interval.
  std::function<double(size_t)> cdf;
  std::vector<double> cumulative;
  if (n <= kExactLimit && m <= kExactLimit) {
    std::vector<int> ranks(n + m);
    for (size_t i = 0; i < ranks.size(); ++i) ranks[i] = static_cast<int>(2 * (i + 1));
    const std::vector<double> counts = rank_sum_counts(ranks, n);
    const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    // Doubled rank sum s corresponds to U = s/2 - n(n+1)/2.
    const size_t offset = n * (n + 1);
    cumulative.assign(nm + 1, 0.0);
    double acc = 0;
    for (size_t u = 0; u <= nm; ++u) {
      acc += counts[2 * u + offset];
      cumulative[u] = acc / total;
    }
    cdf = [&cumulative](size_t u) { return cumulative[u]; };
  } else {
    const double mu = static_cast<double>(nm) / 2;
    const double sigma = std::sqrt(static_cast<double>(nm) * static_cast<double>(n + m + 1) / 12.0);
    cdf = [mu, sigma](size_t u) { return normal_cdf((static_cast<double>(u) + 0.5 - mu) / sigma); };
  }
  const double tail = (1 - confidence) / 2;
  size_t k = 1;  // 1-based order statistic of the lower bound
  while (k + 1 <= (nm + 1) / 2 && cdf(k) <= tail) ++k;  // cdf(k) = P(U <= (k+1) - 1)
  e.lo = d[k - 1];
  e.hi = d[nm - k];
  e.confidence = std::max(0.0, 1 - 2 * cdf(k - 1));
  return e;
}

}  // namespace attnbench::compare
