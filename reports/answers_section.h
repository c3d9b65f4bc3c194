// The report's first screen, <section id="answers">: the questions a reader opens
// the report for, answered in sentences and small tables before any detail.
#pragma once

#include <string>
#include <vector>

#include "report_data.h"
#include "run_comparison.h"

namespace attnbench::reports {

/// Statuses the answers list as "did not finish": a kernel error or a worker that
/// crashed or ran out of time. unsupported / no_device / oom are not failures.
bool is_failure_status(const std::string& status);

/// The cases of `data` with a failure status, in recording order.
std::vector<const CaseResult*> failed_cases(const RunData& data);

/// The candidate's regressions in `cmp`, worst first: time verdict "slower" by
/// descending ratio, then cases whose only regression is a quality metric.
std::vector<const CaseComparison*> regressions(const RunComparison& cmp);

/**
 * <section id="answers">: (a) the fastest configuration per phase, shape class,
 * dtype and backend with its fraction of peak; (b) the best KV method per budget on
 * shared cases; (c) the approximate variants that beat the exact kernel and from
 * which length; (d) regressions against `comparison` when given (null: says no
 * baseline was given); (e) what failed, crashed or timed out. All stored text is
 * escaped; the section holds no chart.
 */
std::string render_answers_section(const RunData& data, const RunComparison* comparison);

}  // namespace attnbench::reports
