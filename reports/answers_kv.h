// The "best KV method per budget" answer of the report's first screen. Methods at
// one budget are compared on the cases they all ran, so no method looks better
// for having skipped the hard ones.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One KV configuration at one budget, averaged over the budget's shared cases.
struct KvCandidate {
  std::string config;  // canonical "kv=snapkv:budget=128,window=32"
  std::string method;  // "snapkv"
  double accuracy = 0;                // mean recall_accuracy over the shared cases
  std::optional<double> mass_kept;    // mean attention_mass_kept where measured
  size_t mass_cases = 0;              // how many shared cases measured mass kept
};

/// Every configuration at one budget, best first.
struct KvBudget {
  std::string budget;  // the config's budget= value ("128"); "none" when it has none (e.g. full)
  std::vector<KvCandidate> candidates;  // by accuracy, then mass kept, descending
  size_t cases = 0;     // cases every candidate ran (suite, backend, dtype, phase, shape)
  size_t excluded = 0;  // cases some candidate ran but not all, left out of the means
};

/// The value of option `name` in a canonical config ("kv=h2o:budget=128,recent=64"
/// and "budget" -> "128"), empty when absent.
std::string config_option(const std::string& config, const std::string& name);

/**
 * Groups the ok KV-method cases (config "kv=...") with a finite recall_accuracy by
 * budget, keeps per budget only the cases (same suite, backend, device, dtype, phase
 * and shape) that every configuration at that budget ran, and averages accuracy and
 * mass kept over them. Budgets come in numeric order, "none" last; a budget whose
 * configurations share no case is kept with `cases` 0 and no candidates.
 */
std::vector<KvBudget> kv_budget_answers(const RunData& data);

/// The answer as HTML: one sentence per budget and a table. All stored text is escaped.
std::string render_kv_answer(const std::vector<KvBudget>& budgets);

}  // namespace attnbench::reports
