#include "compare_paired.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace attnbench::compare {
namespace {

/// Ranks of |d| (1-based, midranks for ties).
std::vector<double> abs_ranks(const std::vector<double>& d) {
  std::vector<size_t> order(d.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return std::fabs(d[x]) < std::fabs(d[y]); });
  std::vector<double> rank(d.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && std::fabs(d[order[j + 1]]) == std::fabs(d[order[i]])) ++j;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = (i + j) / 2.0 + 1;
    i = j + 1;
  }
  return rank;
}

/// counts[s] = number of sign assignments whose positive ranks (doubled, so midranks
/// stay integral) sum to s.
std::vector<double> null_counts(const std::vector<double>& ranks) {
  int total = 0;
  for (double r : ranks) total += static_cast<int>(std::lround(2 * r));
  std::vector<double> counts(total + 1, 0.0);
  counts[0] = 1;
  int reach = 0;
  for (double r : ranks) {
    const int w = static_cast<int>(std::lround(2 * r));
    for (int s = reach; s >= 0; --s)
      if (counts[s] != 0) counts[s + w] += counts[s];
    reach += w;
  }
  return counts;
}

/// P(W2 <= k) and P(W2 >= k) for the doubled statistic under the null.
double two_sided_p(const std::vector<double>& counts, int w2) {
  double all = 0, low = 0, high = 0;
  for (size_t s = 0; s < counts.size(); ++s) {
    all += counts[s];
    if (static_cast<int>(s) <= w2) low += counts[s];
    if (static_cast<int>(s) >= w2) high += counts[s];
  }
  return std::min(1.0, 2 * std::min(low, high) / all);
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

/// The rank k of the interval [w_(k), w_(M+1-k)] over the M = n(n+1)/2 sorted Walsh
/// averages: the largest k >= 1 with P(W <= k - 1) <= (1 - confidence) / 2 under the
/// null (exact up to kSignedRankExactLimit pairs, normal beyond). `achieved` gets the
/// coverage 1 - 2 P(W <= k - 1), which is below `confidence` when n is too small.
size_t walsh_rank(size_t n, double confidence, double& achieved) {
  const size_t m = n * (n + 1) / 2;
  const double tail = (1 - confidence) / 2;
  if (n <= kSignedRankExactLimit) {
    std::vector<double> ranks(n);
    for (size_t i = 0; i < n; ++i) ranks[i] = static_cast<double>(i + 1);
    const std::vector<double> doubled = null_counts(ranks);  // index 2w: ranks are whole
    const double all = std::ldexp(1.0, static_cast<int>(n));
    double below = doubled[0] / all;  // P(W <= k - 1) for k = 1
    size_t k = 1;
    while (k < m / 2 && below + doubled[2 * k] / all <= tail) below += doubled[2 * k++] / all;
    achieved = 1 - 2 * below;
    return k;
  }
  const double mean = m / 2.0, sd = std::sqrt(n * (n + 1) * (2.0 * n + 1) / 24.0);
  achieved = confidence;
  return static_cast<size_t>(std::max(1.0, std::floor(mean - normal_quantile(1 - tail) * sd)));
}

}  // namespace

SignedRank signed_rank_test(std::span<const double> d_in) {
  std::vector<double> d;
  for (double x : d_in)
    if (x != 0) d.push_back(x);
  SignedRank r;
  if (d.empty()) return r;
  const std::vector<double> rank = abs_ranks(d);
  for (size_t i = 0; i < d.size(); ++i)
    if (d[i] > 0) r.w_plus += rank[i];
  const size_t n = d.size();
  if (n <= kSignedRankExactLimit) {
    const std::vector<double> counts = null_counts(rank);
    r.exact = true;
    r.p_value = two_sided_p(counts, static_cast<int>(std::lround(2 * r.w_plus)));
    r.min_p = std::min(1.0, 2 * counts[0] / [&] { double a = 0; for (double c : counts) a += c; return a; }());
    return r;
  }
  double tie = 0;  // tie correction of the variance: sum over tie groups of (t^3 - t) / 48
  std::vector<double> sorted = rank;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size();) {
    size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[i]) ++j;
    const double t = static_cast<double>(j - i + 1);
    tie += (t * t * t - t) / 48.0;
    i = j + 1;
  }
  const double mean = n * (n + 1) / 4.0;
  const double sd = std::sqrt(n * (n + 1) * (2.0 * n + 1) / 24.0 - tie);
  const double z = (std::fabs(r.w_plus - mean) - 0.5) / sd;
  r.p_value = std::min(1.0, 2 * (1 - normal_cdf(std::max(0.0, z))));
  r.min_p = std::min(1.0, 2 * (1 - normal_cdf((mean - 0.5) / sd)));
  return r;
}

PairedComparison compare_paired(std::span<const double> a, std::span<const double> b, const CompareOptions& o) {
  if (a.size() != b.size() || a.size() < 2) throw std::invalid_argument("compare_paired needs two equal sets of >= 2 samples");
  PairedComparison c;
  c.pairs = a.size();
  std::vector<double> logr;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] > 0) || !(b[i] > 0)) throw std::invalid_argument("compare_paired needs positive times");
    logr.push_back(std::log(b[i] / a[i]));
  }
  c.test = signed_rank_test(logr);
  std::vector<double> walsh;
  for (size_t i = 0; i < logr.size(); ++i)
    for (size_t j = i; j < logr.size(); ++j) walsh.push_back((logr[i] + logr[j]) / 2);
  std::sort(walsh.begin(), walsh.end());
  const size_t m = walsh.size();
  const double med = m % 2 ? walsh[m / 2] : (walsh[m / 2 - 1] + walsh[m / 2]) / 2;
  c.ratio = std::exp(med);
  const size_t k = walsh_rank(logr.size(), o.confidence, c.confidence);
  c.lo = std::exp(walsh[k - 1]);
  c.hi = std::exp(walsh[m - k]);
  c.inconclusive = c.test.min_p > o.alpha;
  const bool significant = c.test.p_value <= o.alpha;
  c.slower = significant && c.ratio > 1 + o.threshold;
  c.faster = significant && c.ratio < 1 / (1 + o.threshold);
  if (c.inconclusive)
    c.note = fmt::format("{} pairs cannot reach p <= {} (smallest p {:.3f})", c.pairs, o.alpha, c.test.min_p);
  else if (significant && !c.slower && !c.faster)
    c.note = fmt::format("significant but within the {:.0f}% threshold", o.threshold * 100);
  return c;
}

bool verdict_open(const PairedComparison& c, const CompareOptions& o) {
  const auto straddles = [&](double t) { return c.lo <= t && t <= c.hi; };
  return c.inconclusive || straddles(1 + o.threshold) || straddles(1 / (1 + o.threshold));
}

}  // namespace attnbench::compare
