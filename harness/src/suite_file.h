// Suite definition files (suites/*.json): data, not code. A suite is a list of
// groups; each group crosses its variant configurations with the named axes of
// its sweep (nvbench-style) and may narrow the sweep for --quick. See suites/README.md.
#pragma once

#include <string>
#include <vector>

#include "case_spec.h"

namespace attnbench {

/// A suite as read from its file, expanded into cases for one backend-independent plan.
struct Suite {
  std::string name;
  std::string description;
  std::string path;
  std::string file_hash;    // hash of the file's bytes, part of every case fingerprint
  std::vector<CaseSpec> cases;  // backend left empty; the runner fills it
};

/// Reads and expands a suite file. Throws std::invalid_argument with a one-line
/// message naming the file and the offending field on any malformed content.
Suite load_suite(const std::string& path, bool quick);

/// Directory holding the suite files: $ATTNBENCH_SUITES_DIR, else the installed
/// share/attnbench/suites, else the source tree's suites/.
std::string default_suites_dir();

/// Suite names (file stems) found in `dir`, sorted.
std::vector<std::string> list_suites(const std::string& dir);

/// Resolves a suite name or a path to a suite file. Throws std::invalid_argument for unknown names.
std::string resolve_suite(const std::string& dir, const std::string& name_or_path);

}  // namespace attnbench
