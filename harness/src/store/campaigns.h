// Campaigns: runs that read as one result. Shards of a suite run on many machines
// (`run --campaign NAME`, merged with `merge`) or the two sides of `attnbench ab` share
// a name; a plain run is its own campaign, named "run-<id>". Commands that take a run
// take a campaign name as well.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "results_store.h"

namespace attnbench::store {

/// Throws std::invalid_argument unless `name` can name a campaign: 1..200 printable
/// characters, not all digits (a run id) and not "run-<digits>" (a run's own campaign).
void check_campaign_name(const std::string& name);

/// Stores the campaign of a run.
void set_campaign(ResultsStore& db, int64_t run_id, const std::string& name);

/// The campaign of a run: its stored name, or "run-<id>" for a run on its own.
std::string campaign_of(ResultsStore& db, int64_t run_id);

/// Run ids of a campaign in id order; "run-<id>" names that one run. Empty if unknown.
std::vector<int64_t> campaign_runs(ResultsStore& db, const std::string& name);

/// Runs named by a command-line argument: a run id ("7") or a campaign name. Throws
/// std::invalid_argument naming the database when nothing matches.
std::vector<int64_t> resolve_runs(ResultsStore& db, const std::string& run_or_campaign);

}  // namespace attnbench::store
