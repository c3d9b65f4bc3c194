// The A/A noise check: each case's even and odd repetitions judged with the
// report's run-vs-run rule. Same-distribution halves rarely differ; halves
// offset by 30% always do; the report shows the line with and without a baseline.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "html_report.h"
#include "noise_check.h"
#include "test_report_db.h"

using namespace attnbench::reports;
using report_test::element;
using report_test::slurp;
using report_test::TestDb;

namespace {

/// Deterministic noise in [-amp, amp]: a fixed LCG, so the data never changes.
struct Lcg {
  uint64_t s;
  double next(double amp) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = static_cast<double>(s >> 11) / static_cast<double>(1ull << 53);
    return amp * (2 * u - 1);
  }
};

/// `reps` seconds per call around `base` with +-3% noise; even repetitions
/// multiplied by `even_factor`.
std::vector<double> timings(Lcg& rng, double base, int reps, double even_factor = 1.0) {
  std::vector<double> v;
  for (int i = 0; i < reps; ++i) v.push_back(base * (1 + rng.next(0.03)) * (i % 2 ? 1 : even_factor));
  return v;
}

CaseResult make_case(const std::string& key, const std::vector<double>& seconds,
                     const std::string& status = "ok") {
  CaseResult c;
  c.case_key = c.config = key;
  c.status = status;
  for (size_t i = 0; i < seconds.size(); ++i)
    c.samples.push_back({static_cast<int64_t>(i), 10, seconds[i]});
  return c;
}

/// 12 eligible cases with halves from one distribution (`even_factor` 1) or
/// with the even half slower, plus cases the check must skip.
RunData synthetic_run(int64_t id, double even_factor) {
  RunData run;
  run.run.id = id;
  Lcg rng{42};
  for (int i = 0; i < 12; ++i)
    run.cases.push_back(make_case(fmt::format("case{}", i),
                                  timings(rng, 1e-3 * (i + 1), 10, even_factor)));
  run.cases.push_back(make_case("three-reps", timings(rng, 1e-3, 3, 2.0)));  // too few
  run.cases.push_back(make_case("failed", timings(rng, 1e-3, 10, 2.0), "failed"));
  run.cases.push_back(make_case("untimed", {}));
  return run;
}

}  // namespace

TEST_CASE("A/A check on same-distribution halves raises no false alarm", "[report]") {
  RunData run = synthetic_run(7, 1.0);
  NoiseCheck n = aa_noise_check(run, 0.05);
  CHECK(n.run == 7);
  CHECK(n.cases == 12);        // the 3-repetition, failed and sample-less cases are left out
  CHECK(n.false_alarms == 0);  // +-3% noise never clears a 5% threshold with its interval
  CHECK(n.rate() == 0.0);
  REQUIRE(n.median_spread);
  CHECK(*n.median_spread > 0.005);
  CHECK(*n.median_spread < 0.03);
  // Even with no threshold the bootstrap interval alone keeps these halves "same".
  CHECK(aa_noise_check(run, 0.0).false_alarms == 0);
  // Deterministic: the bootstrap is seeded.
  NoiseCheck again = aa_noise_check(run, 0.05);
  CHECK(again.false_alarms == n.false_alarms);
  CHECK(again.median_spread == n.median_spread);

  std::string note = render_noise_note(n);
  CHECK(note.find("A/A false alarms: 0 of 12 cases (0.0%) at threshold 5%") != std::string::npos);
  CHECK(note.find("data-false-alarms=\"0\" data-cases=\"12\"") != std::string::npos);
  CHECK(note.find("median spread (MAD/median)") != std::string::npos);
}

TEST_CASE("A/A check flags halves where even repetitions are 30% slower", "[report]") {
  NoiseCheck n = aa_noise_check(synthetic_run(8, 1.3), 0.05);
  CHECK(n.cases == 12);
  CHECK(n.false_alarms == 12);
  CHECK(n.rate() == 1.0);
  CHECK(render_noise_note(n).find("A/A false alarms: 12 of 12 cases (100.0%) at threshold 5%") !=
        std::string::npos);
  // A run with no case of 4+ repetitions says so instead of printing 0 of 0.
  RunData tiny;
  tiny.cases.push_back(make_case("short", {1e-3, 1e-3, 1e-3}));
  NoiseCheck none = aa_noise_check(tiny, 0.05);
  CHECK(none.cases == 0);
  CHECK(render_noise_note(none).find("not measured") != std::string::npos);
}

TEST_CASE("report shows the A/A line in the summary and in the comparison", "[report]") {
  auto dir = report_test::fresh_dir("report_noise", "page");
  auto db_path = dir / "results.db";
  {
    TestDb db(db_path);
    Lcg rng{7};
    for (int64_t run : {int64_t{1}, int64_t{2}}) {
      db.add_run(fmt::format("2025-01-0{}T00:00:00Z", run), "complete");
      for (int i = 0; i < 4; ++i) {
        TestDb::Row r;
        r.config = fmt::format("flash:causal,v={}", i);
        r.len_q = r.len_k = 1024;
        // Run 1: one distribution; run 2: even repetitions 30% slower.
        r.samples = timings(rng, 1e-3, 8, run == 1 ? 1.0 : 1.3);
        db.add_row(run, r);
      }
    }
  }
  auto out = dir / "report.html";
  HtmlReportOptions opt;
  opt.run_id = 1;
  write_html_report(db_path.string(), opt, out.string());
  std::string html = slurp(out);
  std::string summary = element(html, "<section id=\"summary\"", "</section>");
  CHECK(summary.find("Measurement noise") != std::string::npos);
  CHECK(summary.find("A/A false alarms: 0 of 4 cases (0.0%) at threshold 5%") != std::string::npos);

  opt.run_id = 2;
  opt.baseline_run_id = 1;
  opt.time_threshold = 0.1;
  write_html_report(db_path.string(), opt, out.string());
  html = slurp(out);
  std::string cmp = element(html, "<section id=\"comparison\"", "</section>");
  REQUIRE_FALSE(cmp.empty());
  CHECK(cmp.find("Baseline run 1: A/A false alarms: 0 of 4 cases (0.0%) at threshold 10.0%") !=
        std::string::npos);
  CHECK(cmp.find("Candidate run 2: A/A false alarms: 4 of 4 cases (100.0%) at threshold 10.0%") !=
        std::string::npos);
  // With a comparison, the line sits there, not in the summary.
  CHECK(element(html, "<section id=\"summary\"", "</section>").find("Measurement noise") ==
        std::string::npos);
}
