// libFuzzer entry for the suite-file parser (built and run by run_fuzz.sh). Every input,
// read in both quick modes, must either expand into valid cases or be refused with one
// std::invalid_argument line that starts with the file name, has nothing left to escape
// and does not come from a nlohmann exception. Anything else (another exception, a crash, a sanitizer
// report, a broken message) is a finding: it aborts, and libFuzzer keeps the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "suite_file.h"

namespace {

constexpr const char* kPath = "fuzz.json";

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz finding: %s: %s\n", what, detail.c_str());
  std::abort();
}

/// Checks a refusal against the rules every suite-file error follows.
void check_message(const std::string& m) {
  if (m.rfind(kPath, 0) != 0) finding("message does not start with the file name", m);
  if (m.find('\n') != std::string::npos) finding("message spans lines", m);
  // A nlohmann exception reaching parse_suite's last net is rethrown in this build
  // (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) and caught below as another exception type;
  // matching message text instead would flag files that merely contain that text.
  if (attnbench::suite_json::escape_text(m) != m) finding("unescaped bytes in message", m);
}

/// Checks what an accepted suite expanded to: bounded, and every attention shape valid.
void check_suite(const attnbench::Suite& s) {
  if (s.cases.size() > attnbench::suite_limits::kMaxCases) finding("too many cases", std::to_string(s.cases.size()));
  for (const attnbench::CaseSpec& c : s.cases) {
    if (c.recall) continue;
    try {
      c.shape.validate();
    } catch (const std::exception& e) {
      finding("accepted an invalid shape", e.what());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (bool quick : {false, true}) {
    try {
      check_suite(attnbench::parse_suite(text, kPath, quick));
    } catch (const std::invalid_argument& e) {
      check_message(e.what());
    } catch (const std::exception& e) {
      finding("exception other than std::invalid_argument", e.what());
    }
  }
  return 0;
}
