// Merging result databases from shards or machines into one, without duplicates.
#pragma once

#include <string>
#include <vector>

namespace attnbench::store {

/// What a merge did.
struct MergeSummary {
  int runs_copied = 0;     ///< new runs added to the output
  int runs_present = 0;    ///< runs the output already held (same identity)
  int cases_copied = 0;    ///< cases added (to new or already present runs)
  int cases_present = 0;   ///< cases skipped because their run already held the key
  std::vector<std::string> notes;  ///< one line per input skipped on purpose
};

/**
 * Copies every run of `inputs` into `out_path` (created if missing) with new ids;
 * cases, samples, metrics and machine_peaks follow with remapped ids. A run already in
 * the output (same started_at, host, command_line, seed and selection) is not copied
 * again: only its missing cases are added, and an `incomplete` status is replaced by the
 * input's final one, so merging the same file twice, or a shard and its resumed copy,
 * converges. Every input is validated (readable, attnbench schema of this version,
 * PRAGMA quick_check) before the output is opened, so a corrupt input throws StoreError
 * with one line and leaves the output untouched; the copy itself is one transaction.
 */
MergeSummary merge_databases(const std::string& out_path, const std::vector<std::string>& inputs);

}  // namespace attnbench::store
