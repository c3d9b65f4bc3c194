// Google Benchmark portability (1.7 in Debian 12, 1.8+ elsewhere): benchmark_run_failed
// reads Run::error_occurred/error_message (1.7) or Run::skipped/skip_message (1.8+).
// Only one of them exists in the installed headers, so the other branch is compiled here
// against stand-in structs that mirror each API's members; the real Run type and a real
// failing case go through the installed one.
#include <catch2/catch.hpp>

#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>

#include "gbench_timer.h"

using attnbench::benchmark_run_failed;

namespace {

/// benchmark::BenchmarkReporter::Run up to 1.7.x.
struct Run17 {
  bool error_occurred = false;
  std::string error_message;
};

/// benchmark::BenchmarkReporter::Run from 1.8.0 on (internal::Skipped, NotSkipped == 0).
namespace v18 {
enum Skipped : unsigned { NotSkipped = 0, SkippedWithMessage, SkippedWithError };
}
struct Run18 {
  v18::Skipped skipped = v18::NotSkipped;
  std::string skip_message;
};

}  // namespace

TEST_CASE("the 1.7 API (error_occurred, error_message) is read") {
  std::string msg = "untouched";
  Run17 ok;
  CHECK_FALSE(benchmark_run_failed(ok, msg));
  CHECK(msg == "untouched");
  Run17 bad{true, "kernel failed"};
  CHECK(benchmark_run_failed(bad, msg));
  CHECK(msg == "kernel failed");
}

TEST_CASE("the 1.8 API (skipped, skip_message) is read") {
  std::string msg = "untouched";
  Run18 ok;
  CHECK_FALSE(benchmark_run_failed(ok, msg));
  CHECK(msg == "untouched");
  Run18 bad{v18::SkippedWithError, "kernel failed"};
  CHECK(benchmark_run_failed(bad, msg));
  CHECK(msg == "kernel failed");
  Run18 skipped{v18::SkippedWithMessage, "skipped"};
  CHECK(benchmark_run_failed(skipped, msg));  // no samples either way
  CHECK(msg == "skipped");
}

TEST_CASE("the installed Google Benchmark's Run type goes through the same helper") {
  std::string msg;
  const benchmark::BenchmarkReporter::Run fresh;
  CHECK_FALSE(benchmark_run_failed(fresh, msg));
  CHECK(msg.empty());
}

TEST_CASE("a failing call reaches TimingResult::error through the installed API") {
  const attnbench::TimingResult bad =
      attnbench::time_case("gbench_compat/fails", 2, 0.0, []() -> double { throw std::runtime_error("device lost"); });
  CHECK(bad.samples.empty());
  CHECK(bad.error == "device lost");

  const attnbench::TimingResult good = attnbench::time_case("gbench_compat/ok", 3, 0.0, [] { return 1e-6; });
  CHECK(good.error.empty());
  CHECK(good.samples.size() == 3);
  for (const auto& s : good.samples) CHECK(s.seconds == Approx(1e-6));
}
