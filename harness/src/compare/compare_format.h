// Renderings of a run-vs-run comparison: a text table for terminals, Markdown for a
// PR comment, JUnit XML for CI test reporters.
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
/// Stored strings go through markdown_text / markdown_code (compare_markdown.h).
std::string format_markdown(const Comparison& c);

/// JUnit XML: one <testcase> per case_key, <failure> for regressions, <skipped> for
/// cases that are not comparable or present in one run only.
std::string format_junit(const Comparison& c);

/// Escapes & < > " ' for XML text and attribute values; drops control characters XML 1.0 forbids.
std::string xml_escape(std::string_view s);

/// The time column: "x1.023 [0.981, 1.070] p=0.031", or "-" without a time comparison.
std::string time_cell(const CaseComparison& c);

}  // namespace attnbench::compare
