// The "Sparse and approximate variants" section: baseline matching, the
// efficiency length (slower at short lengths, faster from 2048 on), a variant
// that never wins, one without a baseline, decode-phase matching, and the
// escaping of hostile config strings in the rendered page.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "efficiency.h"
#include "html_report.h"
#include "report_data.h"
#include "test_report_db.h"

using namespace report_test;
namespace rep = attnbench::reports;

namespace {

const std::vector<int64_t> kLengths{512, 1024, 2048, 4096, 8192};
const std::string kEvil = "block_topk:causal,k=<script>alert(7)</script>";

void add_case(TestDb& db, int64_t run, const std::string& config, int64_t len, double seconds,
              std::optional<double> rel_error = std::nullopt, const std::string& phase = "prefill",
              int64_t len_q = -1, const std::string& suite = "sparse") {
  TestDb::Row r;
  r.suite = suite;
  r.config = config;
  r.phase = phase;
  r.len_q = len_q < 0 ? len : len_q;
  r.len_k = len;
  r.metrics["time_median"] = seconds;
  if (rel_error) r.metrics["rel_error"] = *rel_error;
  r.samples = {seconds, seconds, seconds};
  db.add_row(run, r);
}

/// flash:causal ~ L^2; the sliding window ~ L but with a large constant: slower at
/// 512 and 1024, faster from 2048; linear never wins; hyper (non-causal) has no
/// non-causal flash to compare with; topk_decode against decode.
fs::path build_db(const std::string& name) {
  fs::path dir = fresh_dir("efficiency", name);
  TestDb db(dir / "results.db");
  int64_t run = db.add_run("2025-01-01T00:00:00Z", "ok");
  for (int64_t L : kLengths) {
    double flash = 1e-9 * static_cast<double>(L) * static_cast<double>(L);  // 512 -> 2.6e-4
    add_case(db, run, "flash:causal", L, flash);
    double sw = L <= 1024 ? flash * 1.5 : flash * 0.5;
    add_case(db, run, "sliding_window:causal,window=256:0", L, sw, 1e-3);
    add_case(db, run, "linear:causal", L, flash * 2.0, 0.2);
    add_case(db, run, "hyper:block=64", L, flash * 0.3, 0.05);
    add_case(db, run, kEvil, L, L >= 4096 ? flash * 0.5 : flash * 1.1, 0.01);
    // A windowed flash is not the baseline (and is not an approximate group either).
    add_case(db, run, "flash:causal,window=128:0", L, flash * 0.01);
    // Decode: one query row against the whole cache.
    double dec = 1e-8 * static_cast<double>(L);
    add_case(db, run, "decode", L, dec, std::nullopt, "decode", 1, "topk");
    add_case(db, run, "topk_decode:k=256", L, L >= 1024 ? dec * 0.8 : dec * 1.2, 0.02, "decode", 1,
             "topk");
  }
  // A failed case and one without a time must not matter.
  TestDb::Row bad;
  bad.suite = "sparse";
  bad.config = "sliding_window:causal,window=256:0";
  bad.len_q = bad.len_k = 16384;
  bad.status = "error";
  bad.message = "out of memory";
  db.add_row(run, bad);
  return dir;
}

const rep::EfficiencyGroup* find(const std::vector<rep::EfficiencyGroup>& gs,
                                 const std::string& config) {
  for (const auto& g : gs)
    if (g.config == config) return &g;
  return nullptr;
}

}  // namespace

TEST_CASE("efficiency_length: smallest length from which every longer one wins", "[efficiency]") {
  using P = std::vector<std::pair<int64_t, double>>;
  CHECK(rep::efficiency_length(P{{512, 0.5}, {1024, 0.9}, {2048, 1.2}, {4096, 2.0}}) == 2048);
  // A win at 512 followed by a loss does not count.
  CHECK(rep::efficiency_length(P{{512, 1.5}, {1024, 0.9}, {2048, 1.2}, {4096, 2.0}}) == 2048);
  CHECK(rep::efficiency_length(P{{4096, 2.0}, {512, 1.5}, {2048, 1.1}, {1024, 1.3}}) == 512);
  CHECK_FALSE(rep::efficiency_length(P{{512, 2.0}, {1024, 0.99}}).has_value());
  CHECK_FALSE(rep::efficiency_length(P{}).has_value());
  // Exactly 1 is not faster; two points at one length must both win.
  CHECK_FALSE(rep::efficiency_length(P{{512, 1.0}}).has_value());
  CHECK(rep::efficiency_length(P{{512, 2.0}, {1024, 1.5}, {1024, 0.8}, {2048, 3.0}}) == 2048);
}

TEST_CASE("config_is_causal reads the option list", "[efficiency]") {
  CHECK(rep::config_is_causal("flash:causal"));
  CHECK(rep::config_is_causal("sliding_window:causal,dilation=2,window=128:0"));
  CHECK_FALSE(rep::config_is_causal("flash"));
  CHECK_FALSE(rep::config_is_causal("neighborhood:window=32:32"));
  CHECK_FALSE(rep::config_is_causal("causal"));
  CHECK_FALSE(rep::config_is_causal("x:noncausal,tag=causal"));
}

TEST_CASE("efficiency groups match baselines at the same shapes", "[efficiency]") {
  fs::path dir = build_db("groups");
  rep::RunData data = rep::load_run((dir / "results.db").string(), std::nullopt);
  auto groups = rep::efficiency_groups(data);
  REQUIRE(groups.size() == 5);  // sliding_window, linear, hyper, evil, topk_decode

  const auto* sw = find(groups, "sliding_window:causal,window=256:0");
  REQUIRE(sw);
  CHECK(sw->causal);
  CHECK(sw->baseline_config == "flash:causal");
  REQUIRE(sw->points.size() == kLengths.size());  // the failed 16384 case is left out
  CHECK(sw->points[0].len_k == 512);
  REQUIRE(sw->points[0].speedup);
  CHECK(*sw->points[0].speedup == Approx(1.0 / 1.5));
  CHECK(*sw->points[2].speedup == Approx(2.0));
  REQUIRE(sw->points[2].rel_error);
  CHECK(*sw->points[2].rel_error == Approx(1e-3));
  REQUIRE(sw->efficiency_length);
  CHECK(*sw->efficiency_length == 2048);
  CHECK(rep::efficiency_length_text(*sw) == "2048");

  const auto* lin = find(groups, "linear:causal");
  REQUIRE(lin);
  CHECK_FALSE(lin->efficiency_length);
  CHECK(rep::efficiency_length_text(*lin) == "not reached up to L=8192");

  const auto* hyp = find(groups, "hyper:block=64");
  REQUIRE(hyp);
  CHECK_FALSE(hyp->causal);
  CHECK(hyp->baseline_config.empty());
  CHECK(hyp->points.size() == kLengths.size());
  for (const auto& p : hyp->points) CHECK_FALSE(p.speedup);
  CHECK(rep::efficiency_length_text(*hyp) == "\xE2\x80\x94");

  const auto* evil = find(groups, kEvil);
  REQUIRE(evil);
  CHECK(evil->efficiency_length == 4096);

  const auto* dec = find(groups, "topk_decode:k=256");
  REQUIRE(dec);
  CHECK(dec->baseline_config == "decode");
  CHECK(dec->fixed_shape.find("lq=1") != std::string::npos);
  CHECK(dec->efficiency_length == 1024);
}

TEST_CASE("HTML report has the approximate-variants section, escaped", "[efficiency]") {
  fs::path dir = build_db("html");
  fs::path out = dir / "report.html";
  rep::write_html_report((dir / "results.db").string(), std::nullopt, out.string());
  std::string html = slurp(out);
  REQUIRE(html.find("<section id=\"approximate\">") != std::string::npos);
  CHECK(html.find("Sparse and approximate variants") != std::string::npos);
  CHECK(html.find("href=\"#approximate\"") != std::string::npos);
  std::string section = element(html, "<section id=\"approximate\">", "</section>");
  REQUIRE_FALSE(section.empty());
  CHECK(section.find("<b class=\"eff-length\">2048</b>") != std::string::npos);
  CHECK(section.find("not reached up to L=8192") != std::string::npos);
  CHECK(section.find("<b class=\"eff-length\">\xE2\x80\x94</b>") != std::string::npos);
  // Small multiples: one chart per (suite, phase, backend, dtype), here prefill and decode,
  // one line per configuration with a baseline (hyper has none: no line).
  CHECK(count(section, "<svg") == 2);
  const std::string charts = element(section, "<div class=\"small-multiples\">", "</div>");
  for (const char* config : {"sliding_window:causal,window=256:0", "linear:causal", "topk_decode:k=256"})
    CHECK(charts.find(config) != std::string::npos);
  CHECK(charts.find("hyper:block=64") == std::string::npos);
  CHECK(count(charts, "id=\"speedup-chart-") == 2);
  CHECK(count(section, "class=\"approx-group\"") == 5);
  // Hostile text never appears raw, anywhere on the page.
  CHECK(html.find("<script>alert(7)") == std::string::npos);
  CHECK(section.find("&lt;script&gt;alert(7)&lt;/script&gt;") != std::string::npos);
}

TEST_CASE("no approximate section without approximate variants", "[efficiency]") {
  fs::path dir = fresh_dir("efficiency", "none");
  {
    TestDb db(dir / "results.db");
    int64_t run = db.add_run("2025-01-01T00:00:00Z", "ok");
    for (int64_t L : kLengths) add_case(db, run, "flash:causal", L, 1e-6 * static_cast<double>(L));
  }
  rep::RunData data = rep::load_run((dir / "results.db").string(), std::nullopt);
  CHECK(rep::efficiency_groups(data).empty());
  CHECK(rep::render_efficiency_section(data).empty());
  fs::path out = dir / "report.html";
  rep::write_html_report((dir / "results.db").string(), std::nullopt, out.string());
  std::string html = slurp(out);
  CHECK(html.find("id=\"approximate\"") == std::string::npos);
  CHECK(html.find("href=\"#approximate\"") == std::string::npos);
}
