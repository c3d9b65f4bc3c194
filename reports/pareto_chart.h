// Accuracy against KV-cache memory across KV methods and budgets, with the
// Pareto front (nothing else is both smaller and at least as accurate).
#pragma once

#include <string>
#include <vector>

#include "report_data.h"
#include "svg_chart.h"

namespace attnbench::reports {

/// One KV configuration summarised over its recall cases.
struct ParetoPoint {
  std::string config;   // canonical "kv=method:params"
  std::string method;   // "snapkv" from "kv=snapkv:budget=256"
  std::string backend;  // set only when the run has several backends
  double kv_bytes = 0;  // mean kv_bytes over the cases
  double accuracy = 0;  // mean recall_accuracy over the cases
  size_t cases = 0;
  bool on_front = false;
};

/// Indices of the non-dominated points when `cost` is minimised and `gain`
/// maximised: i is dominated when some j has cost <= and gain >= with one of
/// them strict. Exact duplicates are all kept. Ascending cost order.
std::vector<size_t> pareto_front(const std::vector<double>& cost, const std::vector<double>& gain);

/// One point per (config, backend) over the run's ok recall cases (config
/// starting with "kv=") that have both kv_bytes and recall_accuracy, with
/// `on_front` set. Ordered by method, then bytes.
std::vector<ParetoPoint> kv_pareto_points(const RunData& data);

/// Scatter (log bytes, linear accuracy 0..1), one series per method, the front
/// drawn as an emphasised line (series class "pareto-front").
LogLogChart pareto_chart(const std::vector<ParetoPoint>& points);

/// A sortable table of the points; front rows carry class "front" and
/// data-front="1" (others "0"). All text is escaped.
std::string render_pareto_table(const std::vector<ParetoPoint>& points);

}  // namespace attnbench::reports
