// Reproduction targets: suite groups that carry a published figure ("target" in the
// suite file, stored with each case) get the figure measured from their cases next to
// the published one, with a verdict where the target states the range that counts.
// The measures (speedup, memory_ratio, metric) are documented at parse_target in
// harness/src/plan/suite_file.cpp.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One measured value of a target: a case (or a case and its baseline) and its figure.
struct TargetRow {
  std::string config, backend, dtype, shape;
  double value = 0;
  std::optional<std::pair<double, double>> expect;  // range that counts as reproduced
  std::optional<bool> met;                          // value within expect
};

/// A target with everything measured for it in one run.
struct TargetResult {
  std::string suite, group, source, claim, published, measure, metric, note;
  std::vector<TargetRow> rows;
  std::string error;  // unreadable target JSON; rows then empty
  /// "reproduced" (every row with a range within it), "not reproduced", "no verdict"
  /// (no range given) or "not measured" (no successful case).
  std::string verdict() const;
  /// Range of the measured values in the target's units ("1.44x-1.67x", "0.98").
  std::string measured_text() const;
};

/// Targets of a run, in the order their groups first appear.
std::vector<TargetResult> reproduction_targets(const RunData& data);

/// <section id="targets"> "Reproduction targets": published vs measured, verdicts and
/// per-case rows. Empty when the run has no target. Text from the database is escaped.
std::string render_targets_section(const RunData& data);

/// The same summary as a Markdown table (published vs measured, verdict), for notes and CI.
/// Target text is escaped with markdown_text (compare_markdown.h), as compare's Markdown is.
std::string render_targets_markdown(const RunData& data);

}  // namespace attnbench::reports
