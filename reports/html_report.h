// Public entry point of the HTML report (`attnbench report`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace attnbench::reports {

/**
 * Renders run `run_id` of the results database at `db_path` (the newest run when
 * empty) as one self-contained HTML page at `out_path`: provenance, machine
 * peaks, a status summary, and per suite a log-log chart of median time vs
 * context length and a sortable table; the run's raw data is embedded as JSON.
 *
 * Reads only the database, opened read-only with bound parameters; never
 * re-runs anything. Writes via `out_path` + ".tmp" and a rename, so a reader
 * never sees a partial page and a failure leaves any old `out_path` intact.
 *
 * Throws std::runtime_error with a one-line message when the database is
 * missing, unreadable or corrupt, is not an attnbench database, does not hold
 * the run, or when the output cannot be written.
 */
void write_html_report(const std::string& db_path, std::optional<int64_t> run_id,
                       const std::string& out_path);

}  // namespace attnbench::reports
