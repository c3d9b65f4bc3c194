// Trace suites (suites/README.md "Trace suites"): `"kind": "trace"` groups with
// `"trace": DIR` run KV methods (crossed with token budgets and compression ratios) and
// attention variants on a real attention trace (harness/src/trace/attention_trace.h),
// and `attnbench run --trace DIR` runs every KV method and variant on one.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "suite_file.h"

namespace attnbench {

/// Checks the defaults of a trace suite (`methods`, `variants`, `axes`); throws
/// std::invalid_argument naming the file and the field.
void check_trace_defaults(const nlohmann::json& defaults, const std::string& where);

/// Expands one trace group into suite.cases: the trace is checked (every refusal names
/// the file at fault), then each method config (default: every built-in KV method,
/// crossed with the budgets of axes.budget and axes.compression_ratio, default ratios
/// 0.5 and 0.9 of the context) and each variant (default: the recall suite's list) is one
/// case over all layers. `quick` with a `quick` block overrides methods, variants and axes;
/// `"quick": false` drops the group. A relative trace path is taken from the suite
/// file's folder.
void expand_trace_group(Suite& suite, const nlohmann::json& group, const nlohmann::json& defaults, bool quick,
                        const std::string& gwhere);

/// The suite `attnbench run --trace DIR` runs: one group on DIR with the defaults above.
Suite trace_suite(const std::string& dir, bool quick);

}  // namespace attnbench
