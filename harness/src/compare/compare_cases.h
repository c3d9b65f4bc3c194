// Stored runs as the comparison sees them: every case with its samples and metrics,
// loaded once from the database, plus the fingerprint that decides whether two cases
// measured the same thing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "results_store.h"

namespace attnbench::compare {

/// One stored case: identity, status, per-repetition seconds and metrics.
struct StoredCase {
  std::string case_key, suite, suite_file_hash, backend, device, config, dtype, shape, status, message;
  std::vector<double> seconds;            ///< one per repetition, in repetition order
  std::map<std::string, double> metrics;  ///< NULL values (NaN in SQLite) are kept as NaN
};

/// A run's provenance and cases, in the order they were stored.
struct StoredRun {
  store::RunRecord run;
  std::string generator_version;  ///< runs.library_versions["generator"], if recorded
  std::vector<StoredCase> cases;
  std::string name;              ///< as it was named: a run id ("7") or a campaign name; may be empty
  std::vector<int64_t> run_ids;  ///< the runs it holds, in id order (one for a plain run)
  /// The case with this key, or nullptr.
  const StoredCase* find(const std::string& case_key) const;
};

/**
 * Loads run `run_id` from an open store. Throws std::invalid_argument naming the file
 * and the runs it does hold when the run does not exist.
 */
StoredRun load_stored_run(store::ResultsStore& db, int64_t run_id);

/**
 * A run id ("7") or a campaign name as one StoredRun: the first run's provenance, the
 * cases of every run (a key stored twice counts as its newest run stored it), status
 * incomplete while any run is. Throws std::invalid_argument when nothing matches.
 */
StoredRun load_stored_runs(store::ResultsStore& db, const std::string& run_or_campaign);

/**
 * Parts of the fingerprint that differ between two cases with the same key, each as
 * "part: 'base' vs 'cand'". Empty means comparable. The fingerprint is the canonical
 * config, shape, dtype, suite file hash, the run's build type and the generator version
 * (when either run recorded one): anything else that differs (host, git sha) is what
 * a comparison is meant to measure.
 */
std::vector<std::string> fingerprint_differences(const StoredRun& base_run, const StoredCase& base,
                                                 const StoredRun& cand_run, const StoredCase& cand);

/// Statuses that mean the case broke (as opposed to not running it: unsupported, no_device).
bool is_failure_status(const std::string& status);

}  // namespace attnbench::compare
