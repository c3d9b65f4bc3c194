// The report's first screen (<section id="answers">): each answer computed from a
// small database built here, checked for the right winner, the shared-case rule,
// the regression order, the failure list and escaping.
#include <catch2/catch.hpp>

#include <set>
#include <utility>

#include <string>

#include "answers_fastest.h"
#include "answers_kv.h"
#include "answers_section.h"
#include "html_page.h"
#include "report_data.h"
#include "run_comparison.h"
#include "series_colors.h"
#include "test_report_db.h"

namespace fs = std::filesystem;
using namespace attnbench::reports;
using report_test::TestDb;

namespace {

const std::string kEvil = "boom <script>alert(3)</script>";
const std::string kEvilKv = "kv=evil:budget=64,x=<img src=x>";

/// A timed prefill case; `scale` multiplies the time (for the candidate run).
TestDb::Row timed(const std::string& config, int64_t len, double seconds, double peak = 0.25) {
  TestDb::Row r;
  r.config = config;
  r.len_q = r.len_k = len;
  r.metrics = {{"time_median", seconds}, {"fraction_peak_flops", peak},
               {"fraction_peak_bandwidth", peak / 10}, {"rel_error", config == "flash:causal" ? 1e-7 : 2e-3}};
  r.samples = {seconds, seconds * 1.01, seconds * 0.99, seconds * 1.005};
  return r;
}

TestDb::Row recall(const std::string& config, const std::string& shape, double accuracy, double mass) {
  TestDb::Row r;
  r.suite = "recall";
  r.phase = "decode";
  r.config = config;
  r.shape = shape;
  r.len_q = 1;
  r.len_k = 512;
  r.metrics = {{"recall_accuracy", accuracy}, {"attention_mass_kept", mass}, {"kv_bytes", 4096}};
  return r;
}

TestDb::Row failing(const std::string& status, const std::string& message, int64_t len) {
  TestDb::Row r;
  r.config = "flash:causal";
  r.status = status;
  r.message = message;
  r.len_q = r.len_k = len;
  return r;
}

/// Run 1 (baseline) and run 2 (candidate, two configs slower, some failures).
void build(const fs::path& path) {
  TestDb db(path);
  for (int run = 1; run <= 2; ++run) {
    int64_t id = db.add_run(run == 1 ? "2025-01-01T00:00:00Z" : "2025-01-02T00:00:00Z", "complete");
    double slow = run == 2 ? 3.0 : 1.0, slowish = run == 2 ? 1.5 : 1.0;
    for (int64_t len : {512, 1024, 2048, 4096}) {
      double l = static_cast<double>(len) / 512;
      db.add_row(id, timed("flash:causal", len, 1e-4 * l * l * slow, 0.4));
      db.add_row(id, timed("naive:causal", len, 5e-4 * l * l * slowish));
      // Linear cost: slower than flash up to 1024, faster from 2048 on.
      db.add_row(id, timed("sliding_window:causal,window=64", len, 1.5e-4 * l * 1.5));
    }
    // Budget 128: snapkv and h2o share two shapes; snapkv alone ran a third (a bad one).
    for (const char* shape : {"task=single,lk=512,depth=0", "task=single,lk=512,depth=50"}) {
      db.add_row(id, recall("kv=snapkv:budget=128,window=32", shape, 0.9, 0.8));
      db.add_row(id, recall("kv=h2o:budget=128,recent=64", shape, 0.7, 0.6));
      db.add_row(id, recall(kEvilKv, shape, 0.5, 0.5));
      db.add_row(id, recall("kv=full", shape, 1.0, 1.0));
    }
    db.add_row(id, recall("kv=snapkv:budget=128,window=32", "task=single,lk=512,depth=100", 0.0, 0.1));
    if (run == 2) {
      db.add_row(id, failing("failed", kEvil, 8192));
      db.add_row(id, failing("timeout", "worker ran past 600 s", 16384));
      db.add_row(id, failing("crashed", "signal 11", 32768));
      db.add_row(id, failing("unsupported", "no sliding window", 65536));
    }
  }
}

}  // namespace

TEST_CASE("fastest configuration per shape class, merged over lengths", "[report][answers]") {
  fs::path dir = report_test::fresh_dir("report_answers", "fastest");
  build(dir / "r.db");
  RunData run = load_run((dir / "r.db").string(), int64_t{1});
  auto rows = fastest_configs(run);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].config == "flash:causal");
  CHECK(rows[0].lengths == std::vector<int64_t>{512, 1024});
  CHECK_FALSE(rows[0].approximate);
  REQUIRE(rows[0].peak_fraction);
  CHECK(*rows[0].peak_fraction == Approx(0.4));
  CHECK(rows[0].peak_kind == "FLOP/s");
  CHECK(rows[0].rivals == 2);
  CHECK(rows[1].config == "sliding_window:causal,window=64");
  CHECK(rows[1].lengths == std::vector<int64_t>{2048, 4096});
  CHECK(rows[1].approximate);
  CHECK(rows[1].seconds == Approx(1.5e-4 * 8 * 1.5));
  CHECK(rows[0].shape_class == "b=1,hq=8,hkv=2,d=64, causal");
}

TEST_CASE("best KV method per budget uses only the cases all methods ran", "[report][answers]") {
  fs::path dir = report_test::fresh_dir("report_answers", "kv");
  build(dir / "r.db");
  RunData run = load_run((dir / "r.db").string(), int64_t{1});
  CHECK(config_option("kv=h2o:budget=128,recent=64", "budget") == "128");
  CHECK(config_option("kv=h2o:recent=64,budget=96", "budget") == "96");
  CHECK(config_option("kv=full", "budget").empty());
  auto budgets = kv_budget_answers(run);
  REQUIRE(budgets.size() == 3);
  CHECK(budgets[0].budget == "64");
  CHECK(budgets[1].budget == "128");  // numeric order, not text order
  CHECK(budgets[2].budget == "none");
  const KvBudget& b = budgets[1];
  CHECK(b.cases == 2);
  CHECK(b.excluded == 1);
  REQUIRE(b.candidates.size() == 2);
  CHECK(b.candidates[0].method == "snapkv");
  // The depth=100 case (accuracy 0) only snapkv ran stays out of its mean.
  CHECK(b.candidates[0].accuracy == Approx(0.9));
  REQUIRE(b.candidates[0].mass_kept);
  CHECK(*b.candidates[0].mass_kept == Approx(0.8));
  CHECK(b.candidates[1].method == "h2o");
  CHECK(b.candidates[1].accuracy == Approx(0.7));
}

TEST_CASE("answers section: winners, regressions worst first, failures, escaped", "[report][answers]") {
  fs::path dir = report_test::fresh_dir("report_answers", "section");
  build(dir / "r.db");
  RunData base = load_run((dir / "r.db").string(), int64_t{1});
  RunData cand = load_run((dir / "r.db").string(), int64_t{2});
  RunComparison cmp = compare_runs(base, cand, 0.05);
  auto worse = regressions(cmp);
  REQUIRE(worse.size() == 8);  // flash:causal (3x) and naive:causal (1.5x) at 4 lengths
  CHECK(worse.front()->cand->config == "flash:causal");
  CHECK(worse.back()->cand->config == "naive:causal");
  CHECK(worse.front()->time->ratio > worse.back()->time->ratio);

  std::string html = render_answers_section(cand, &cmp);
  CHECK(html.rfind("<section id=\"answers\">", 0) == 0);
  // Escaped stored text, never markup.
  CHECK(html.find("<script>alert") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(3)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("x=&lt;img src=x&gt;") != std::string::npos);
  // (b) the sentence names the winner with its accuracy and case count.
  CHECK(html.find("Budget 128: <b class=\"mono\">snapkv</b> is best with 90.0% recall accuracy and "
                  "0.800 attention mass kept over 2 cases, ahead of <span class=\"mono\">h2o</span> (70.0%)") !=
        std::string::npos);
  // (c) in the baseline run the sliding window beats flash:causal from 2K on (in the
  // candidate, where flash is 3x slower, from the shortest length).
  std::string approx = report_test::element(render_answers_section(base, nullptr),
                                            "<table class=\"answers-approximate", "</table>");
  CHECK(approx.find("sliding_window:causal,window=64") != std::string::npos);
  CHECK(approx.find("data-sort=\"2048\">2K</td>") != std::string::npos);
  // (d) worst first, pointing at the comparison.
  std::string reg = report_test::element(html, "<table class=\"answers-regressions", "</table>");
  CHECK(reg.find("flash:causal") < reg.find("naive:causal"));
  CHECK(html.find("data-sort=\"512\">512</td>") != std::string::npos);
  CHECK(html.find("8 cases slower beyond the 5% threshold") != std::string::npos);
  // (e) the three failures, not the unsupported case.
  std::string fail = report_test::element(html, "<table class=\"answers-failures", "</table>");
  CHECK(report_test::count(fail, "<tr class=\"st-") == 3);
  for (const char* s : {">failed<", ">timeout<", ">crashed<", "signal 11"}) CHECK(fail.find(s) != std::string::npos);
  CHECK(fail.find("no sliding window") == std::string::npos);
  CHECK(html.find("3 of ") != std::string::npos);

  // Without a baseline the answer says so; the baseline run has nothing failed.
  std::string plain = render_answers_section(base, nullptr);
  CHECK(plain.find("No baseline given") != std::string::npos);
  CHECK(plain.find("Nothing failed, crashed or timed out") != std::string::npos);
}

TEST_CASE("answers come first on the page; variant colours are stable", "[report][answers]") {
  fs::path dir = report_test::fresh_dir("report_answers", "page");
  build(dir / "r.db");
  RunData run = load_run((dir / "r.db").string(), int64_t{2});
  std::string page = render_html_page(run, "r.db");
  size_t answers = page.find("<section id=\"answers\">");
  REQUIRE(answers != std::string::npos);
  CHECK(answers < page.find("<section id=\"provenance\">"));
  CHECK(answers < page.find("<section id=\"summary\">"));
  CHECK(page.find("<a href=\"#answers\">Answers</a>") != std::string::npos);
  // A name's colour depends on the name only.
  CHECK(variant_color("flash:causal") == variant_color(std::string("flash:") + "causal"));
  CHECK(variant_color("flash:causal").size() == 7);
  CHECK(variant_color("flash:causal") != variant_color("naive:causal"));
  // Colour and marker shape together. By hash alone 20 catalogue names share pairs; on a
  // page that names them, each gets its own pair, the same on every call.
  const std::vector<std::string> names = {"flash", "flash:causal", "naive", "naive:causal", "decode", "sliding_window:causal",
                                          "power:causal", "strided_heads:causal", "block_topk:causal", "hyper:causal",
                                          "linear:causal", "based:causal", "topk_decode:k=256", "snapkv", "h2o",
                                          "streaming_llm", "pyramidkv", "quest", "kivi", "tova"};
  const auto pairs = [&] {
    std::set<std::pair<std::string, int>> styles;
    for (const auto& n : names) {
      CHECK(variant_marker(n) >= 0);
      CHECK(variant_marker(n) < kMarkerKinds);
      CHECK(variant_marker(n) == variant_marker(std::string(n)));
      styles.insert({variant_color(n), variant_marker(n)});
    }
    return styles.size();
  };
  const std::string hashed = variant_color("snapkv");
  CHECK(pairs() < names.size());  // 45 pairs by hash: 20 names collide
  {
    const PagePalette page_palette(names);
    CHECK(pairs() == names.size());
    CHECK(variant_color("not on the page") == variant_color(std::string("not on the page")));
  }
  CHECK(variant_color("snapkv") == hashed);  // the page's palette ends with it
  // Charts draw each config in its own colour, and the page carries the table tools.
  // The page drew naive:causal in the colour its palette (the run's configs) gives it.
  const PagePalette as_on_page(palette_names(run));
  CHECK(page.find("<polyline fill=\"none\" stroke=\"" + variant_color("naive:causal") + "\"") != std::string::npos);
  for (const char* s : {"table-filter", "Copy as CSV", "attnbenchTableCsv", "series-hidden"})
    CHECK(page.find(s) != std::string::npos);
}
