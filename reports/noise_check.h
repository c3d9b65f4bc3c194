// The A/A noise check of one run: how often the report's run-vs-run verdict
// flags a difference between two halves of the same run's repetitions, where
// none can exist. Shown next to the threshold so a reader can judge how much a
// "slower" verdict is worth on this machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "report_data.h"

namespace attnbench::reports {

/// Fewest usable repetitions a case needs to take part (two per half).
inline constexpr size_t kNoiseMinRepetitions = 4;

/// Result of aa_noise_check.
struct NoiseCheck {
  int64_t run = 0;
  double threshold = 0.05;
  int cases = 0;         // timed ok cases with >= kNoiseMinRepetitions usable samples
  int false_alarms = 0;  // of those, halves judged "faster" or "slower"
  std::optional<double> median_spread;  // median over those cases of MAD / median time

  /// false_alarms / cases; 0 when no case took part.
  double rate() const { return cases ? static_cast<double>(false_alarms) / cases : 0.0; }
};

/**
 * Splits every ok case's usable samples (finite, positive) with at least
 * kNoiseMinRepetitions of them into interleaved halves (even and odd repetition
 * index, so drift over the run does not read as a difference) and judges the
 * odd half against the even half with bootstrap_median_ratio and time_verdict
 * at `threshold`, exactly as compare_runs judges two runs (same fixed seed, so
 * the result is deterministic). Any verdict other than "same" is a false alarm.
 */
NoiseCheck aa_noise_check(const RunData& run, double threshold);

/// "A/A false alarms: k of n cases (x%) at threshold T · median spread
/// (MAD/median) s", as one escaped <p class="note aa-note"> with data-run,
/// data-false-alarms and data-cases attributes; `label` (e.g. "Baseline run 1")
/// is prefixed when not empty.
std::string render_noise_note(const NoiseCheck& check, const std::string& label = {});

}  // namespace attnbench::reports
