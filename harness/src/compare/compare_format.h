// Renderings of a run-vs-run comparison: a text table for terminals, Markdown for a
// PR comment, JUnit XML for CI test reporters, JSON for scripts.
#pragma once

#include <string>
#include <string_view>

#include "compare_verdict.h"

namespace attnbench::compare {

/// Summary line: "N cases: R regressions, I improvements, ..." with the run ids.
std::string summary_line(const Comparison& c);

/// Plain-text table, worst verdicts first; passes only when `show_passes`.
std::string format_text(const Comparison& c, bool show_passes = true);

/// Markdown for a PR comment: summary line, tables of regressions and improvements,
/// cases that could not be compared, and every case in a collapsed details block.
/// Each row shows the base and candidate median times (with units) next to the ratio.
/// Stored strings go through markdown_text / markdown_code (compare_markdown.h).
std::string format_markdown(const Comparison& c);

/**
 * Machine-readable comparison (`compare --format json`): "format": "attnbench-compare",
 * "version": 1, "base"/"cand" (name as given, whether it is a campaign, its run ids,
 * provenance of the first run), "options", "summary" (case count and counts by verdict
 * token), "has_regression", and "cases" in base order then candidate-only cases, each
 * with case_key, suite, backend, verdict token, both statuses (null on the side that
 * lacks the case), reasons, "time" (null without a time comparison; else n_base,
 * n_cand, median_base, median_cand in seconds, ratio of medians, "ci" with the
 * Hodges-Lehmann ratio estimate, lo, hi and achieved confidence or null, p_value,
 * min_p, exact, slower, faster, inconclusive, note) and "quality" (name, base, cand,
 * worse, better, note). Non-finite numbers are null.
 */
std::string format_json(const Comparison& c);

/// Verdict as a JSON token: pass, regression, improvement, not_comparable, only_base, only_cand.
const char* verdict_token(Verdict v);

/// Seconds with a unit and 3 significant digits: "812 ns", "1.25 ms", "3.40 s".
std::string duration_text(double seconds);

/// JUnit XML: one <testcase> per case_key, <failure> for regressions, <skipped> for
/// cases that are not comparable or present in one run only.
std::string format_junit(const Comparison& c);

/// Escapes & < > " ' for XML text and attribute values; drops control characters XML 1.0 forbids.
std::string xml_escape(std::string_view s);

/// The time column: "x1.023 [0.981, 1.070] p=0.031", or "-" without a time comparison.
std::string time_cell(const CaseComparison& c);

}  // namespace attnbench::compare
