// Public entry point of the HTML report (`attnbench report`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

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

/// What to render; the defaults give the same page as the overload above.
struct HtmlReportOptions {
  std::optional<int64_t> run_id;           // empty: the newest run
  std::optional<int64_t> baseline_run_id;  // set: add the run-vs-run comparison section
  std::string baseline_db_path;            // empty: the baseline is in db_path too
  double time_threshold = 0.05;            // relative change below which a case is "same"
  // Non-empty: these runs read as one result named `campaign` (load_runs), instead of run_id.
  std::vector<int64_t> run_ids;
  std::string campaign;
  // Non-empty: likewise for the baseline, instead of baseline_run_id.
  std::vector<int64_t> baseline_run_ids;
  std::string baseline_campaign;
};

/// The result `options` names: run_ids as one campaign, else run_id (the newest when empty).
RunData load_report_run(const std::string& db_path, const HtmlReportOptions& options);

/**
 * As above, with options. The run may be a campaign (run_ids: shards merged, both sides
 * of an ab), and so may the baseline (baseline_run_ids). With a baseline, the page gains a comparison section:
 * per case_key present (status ok) in both runs, the ratio of median times
 * (this run / baseline) with a 95% bootstrap interval over the repetitions
 * (fixed seed: the same database gives the same page), a faster / slower / same
 * verdict, and the quality metrics of both runs. Next to the threshold it shows
 * each run's A/A false-alarm rate (aa_noise_check: the same verdict rule on the
 * even vs odd repetitions of every case with at least 4) and the median
 * MAD/median spread; without a baseline that line is a "Measurement noise" note
 * in the summary. Throws std::runtime_error, as above, also when the baseline
 * run does not exist.
 */
void write_html_report(const std::string& db_path, const HtmlReportOptions& options,
                       const std::string& out_path);

}  // namespace attnbench::reports
