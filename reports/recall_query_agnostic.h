// Query-aware against query-agnostic KV compression, side by side: the same KV config on
// the same task cell, compressed with the question in the observation window and
// compressed from the context alone ("compress_before_question", suites/README.md).
#pragma once

#include <string>
#include <vector>

#include "report_data.h"

namespace attnbench::reports {

/// One KV config (and backend) over the cells run in both settings.
struct QueryAgnosticRow {
  std::string config;   ///< canonical "kv=method:params"
  std::string backend;
  double accuracy_aware = 0, accuracy_agnostic = 0;  ///< mean recall_accuracy
  double mass_aware = 0, mass_agnostic = 0;          ///< mean attention_mass_kept
  size_t pairs = 0;                                  ///< cells with both settings
};

/// Shape of a recall case without its compress_before_question setting.
std::string shape_without_setting(const std::string& shape);

/// Rows for every (config, backend) whose ok KV cases (config "kv=...", with
/// recall_accuracy) hold at least one cell in both settings; means over those paired
/// cells only, so both columns average the same cells. Ordered by config, then backend.
std::vector<QueryAgnosticRow> query_agnostic_rows(const RunData& data);

/// `<div id="recall-query-agnostic">` with a table of the rows (each with data-config),
/// or empty when there are none. All text is escaped.
std::string render_query_agnostic_table(const RunData& data);

}  // namespace attnbench::reports
