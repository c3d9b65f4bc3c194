// Recall groups of a suite file (suites/README.md "Recall suites"): a structured recall
// task crossed with context length x depth (and the task's counts), KV-cache methods
// and a budget axis, plus attention variants (no budget axis), expanded into CaseSpecs
// whose `recall` field is set.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "case_spec.h"
#include "suite_file.h"

namespace attnbench {

/// True if a group is a recall group (it names a "task").
bool is_recall_group(const nlohmann::json& group);

/// Checks the "defaults" object of a `"kind": "recall"` suite read from file `where`: known
/// fields, and every axis, method, variant, knob and timing value in it. Throws
/// std::invalid_argument naming the file and the field.
void check_recall_defaults(const nlohmann::json& defaults, const std::string& where);

/// Expands one recall group into suite.cases (tasks outermost, then methods, then budgets,
/// then the group's attention variants once per cell, so consecutive cases share generated
/// data). A budget at or above the context length is skipped: the method would keep every
/// token and only repeat "full". `defaults` must have passed check_recall_defaults (or hold
/// only checked repetitions/min_time); `gwhere` names the group ("FILE: group 'g'"). Every
/// layer of the group, its quick block included, is checked in both modes. Throws
/// std::invalid_argument naming the group and field on malformed content, out-of-range
/// numbers (suite_limits), unknown methods or unknown variants/options.
void expand_recall_group(Suite& suite, const nlohmann::json& group, const nlohmann::json& defaults, bool quick,
                         const std::string& gwhere);

/// Canonical config of `method` with its budget set to `budget` (kv::KvPolicy::config()).
std::string kv_config_with_budget(const std::string& method, int budget);

/// True if the method of this config takes a token budget (eviction methods; not full,
/// quantisers or duo/razor, whose memory is set by other parameters).
bool kv_method_takes_budget(const std::string& method);

/// Throws std::invalid_argument "unknown KV method 'x' (see 'attnbench list methods')" for a
/// glob whose method part matches no KV method name.
void check_method_globs(const std::vector<std::string>& globs);

/// True if `globs` is empty or one matches the case's method name or canonical config
/// ("kivi:bits=2" selects every kivi config with bits=2 first).
bool method_selected(const std::vector<std::string>& globs, const RecallCaseSpec& spec);

/// Replaces the budget of every budgeted recall case with each of `budgets` (the
/// --budget override), then with each compression ratio R of `ratios` (--compression-ratio,
/// kvpress's meaning: the fraction of the cache removed, so the budget is
/// round((1 - R) * len_k), at least 1, stored with the case as compression_ratio),
/// keeping order and dropping duplicates and budgets >= len_k. Non-recall cases and
/// budget-less methods pass through unchanged. Throws std::invalid_argument for a budget
/// < 1 or a ratio outside [0, 1).
std::vector<CaseSpec> override_budgets(const std::vector<CaseSpec>& cases, const std::vector<int>& budgets,
                                       const std::vector<double>& ratios = {});

/// Token budget of compression ratio `ratio` on `len_k` tokens: round((1 - ratio) * len_k), at least 1.
int budget_for_ratio(double ratio, int len_k);

}  // namespace attnbench
