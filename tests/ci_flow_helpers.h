// Shared by the CI-flow and reproduce tests: a small timed suite on the test-only
// "slow" backend (tests/plugins/slow_plugin.cpp) and how to run attnbench against it.
#pragma once

#include <string>

#include "cli_harness.h"

namespace attnbench::test {

/// Two naive fp32 cases, 8 repetitions each: enough for the U test to reach alpha 0.05.
inline std::string ci_suite_json(const std::string& description = "CI flow test suite") {
  return R"({"suite": "ci", "description": ")" + description + R"(",
  "defaults": {"phase": "prefill", "check": "sampled", "repetitions": 8, "min_time": 0.005,
               "axes": {"heads_q": 2, "head_dim": 64}},
  "groups": [{"name": "g", "variants": ["naive"], "axes": {"len": [32, 64]}}]})";
}

/// Environment prefix selecting the slow backend's knobs. A fixed sleep dominates each
/// call so that timings stay stable on a loaded CI machine; "slower" triples it.
inline std::string slow_env(int delay_ms, const std::string& noise = "") {
  return "ATTNBENCH_PLUGIN_PATH='" ATTNBENCH_CI_PLUGIN_DIR "' ATTNBENCH_TEST_DELAY_MS=" + std::to_string(delay_ms) +
         (noise.empty() ? "" : " ATTNBENCH_TEST_NOISE=" + noise);
}

}  // namespace attnbench::test
