// Suite definition files (suites/*.json): data, not code. A suite is a list of
// groups; each group crosses its variant configurations with the named axes of
// its sweep (nvbench-style) and may narrow the sweep for --quick. See suites/README.md.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
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

/// Expands suite file content `text` as if it had been read from `path` (which only
/// names the suite and the messages). Same errors as load_suite; nothing else escapes.
Suite parse_suite(const std::string& text, const std::string& path, bool quick);

/// Directory holding the suite files: $ATTNBENCH_SUITES_DIR, else the installed
/// share/attnbench/suites, else the source tree's suites/.
std::string default_suites_dir();

/// Suite names (file stems) found in `dir`, sorted.
std::vector<std::string> list_suites(const std::string& dir);

/// Resolves a suite name or a path to a suite file. Throws std::invalid_argument for unknown names.
std::string resolve_suite(const std::string& dir, const std::string& name_or_path);

/// Ranges a suite file's numbers must lie in (suites/README.md "Validation"). Lengths stop
/// at 2^24 and every tensor at 2^31-1 elements, so element offsets fit the int32 fields of
/// the plugin ABI and the kernels' int row indices; with these bounds no product of sizes
/// can overflow int64.
namespace suite_limits {
inline constexpr int64_t kMaxLen = int64_t{1} << 24;         ///< len, len_q, len_k, budgets, prefixes
inline constexpr int64_t kMaxBatch = int64_t{1} << 16;       ///< sequences per case
inline constexpr int64_t kMaxHeads = int64_t{1} << 12;       ///< heads_q, heads_kv, gqa
inline constexpr int64_t kMaxHeadDim = 256;                  ///< head_dim of recall cases
inline constexpr int64_t kMaxAttentionHeadDim = 1024;        ///< head_dim, head_dim_v (MLA keys: 576)
inline constexpr int64_t kMaxPageSize = int64_t{1} << 16;    ///< page_size
inline constexpr int64_t kMaxTensorElements = INT32_MAX;     ///< elements of Q, K, V or O
inline constexpr int64_t kMaxCount = int64_t{1} << 20;       ///< recall task counts and integer knobs
inline constexpr int64_t kMaxDepths = 1000;                  ///< recall n_depths
inline constexpr int64_t kMaxRepetitions = 1000;
inline constexpr double kMaxMinTime = 60;                    ///< seconds
inline constexpr double kMaxCaseTimeout = 7 * 24 * 3600.0;     ///< a group's "timeout", seconds
inline constexpr double kMaxLogit = 64;                      ///< |needle_margin|, |local_logit|, |sink_logit|
inline constexpr size_t kMaxCases = 100000;                  ///< cases one suite file may expand to
inline constexpr size_t kMaxNesting = 64;                    ///< JSON objects/arrays inside each other
}  // namespace suite_limits

/// Checked reading of suite-file JSON, shared by the attention and recall group
/// expanders. Every failure is a one-line std::invalid_argument "WHERE: WHY", WHERE
/// being the file and the field path; nothing is narrowed before its range is checked.
namespace suite_json {

/// Inclusive range of an integer field and what messages call it ("lengths", "budget").
struct IntRange {
  int64_t lo, hi;  // within int32
  const char* what;
};

/// Throws std::invalid_argument("WHERE: WHY").
[[noreturn]] void fail(const std::string& where, const std::string& why);

/// A value for messages without dumping it (dump() throws on invalid UTF-8):
/// `string "x"` (escaped, shortened), `number 1.5`, `boolean true`, `null`, `array`, `object`.
std::string describe(const nlohmann::json& v);

/// The integer in `v`, which must be a JSON integer within `r`.
int read_int(const nlohmann::json& v, const std::string& where, IntRange r);

/// The number in `v` (integer or not), which must be finite and within [lo, hi].
double read_number(const nlohmann::json& v, const std::string& where, double lo, double hi, const char* what);

/// The string in `v`, which must be a JSON string.
std::string read_string(const nlohmann::json& v, const std::string& where);

/// The boolean in `v`, which must be true or false.
bool read_bool(const nlohmann::json& v, const std::string& where);

/// `obj[key]` when present, else nullptr (const operator[] on a missing key is undefined).
const nlohmann::json* member(const nlohmann::json& obj, const std::string& key);

/// Requires an object whose keys are all in `allowed`.
void check_keys(const nlohmann::json& obj, const std::vector<std::string>& allowed, const std::string& where);

/// Text with every byte that is not printable valid UTF-8 (controls, newlines, stray or
/// truncated sequences) written as \xNN, so a message quoting file content stays one
/// clean line.
std::string escape_text(std::string_view text);

}  // namespace suite_json

}  // namespace attnbench
