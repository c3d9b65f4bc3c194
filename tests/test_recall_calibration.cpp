// Calibration statistics: on hand-built attention they are exact; on the default
// generator they go the published directions (sinks draw mass, low-norm keys draw
// attention); layered cases funnel (entropy falls with depth); the report section pairs
// them with the published claims and their sources.
#include <catch2/catch.hpp>

#include "attention_calibration.h"
#include "calibration_section.h"
#include "recall_layers.h"
#include "recall_tasks.h"

using namespace attnbench;

namespace {

recall::RecallCase needle(int layer = 0, int layers = 1) {
  recall::TaskParams p;
  p.len_k = 1024;
  recall::RecallKnobs k;
  k.case_hash = 3;
  return recall::make_task(p, recall::layer_knobs(k, layer, layers));
}

}  // namespace

TEST_CASE("zero queries attend uniformly: statistics are exact", "[calibration]") {
  recall::RecallCase c;
  c.heads_q = 1, c.heads_kv = 1, c.len_k = 128, c.head_dim = 4;
  c.q_context.assign(128 * 4, 0.f);
  c.k.assign(128 * 4, 0.f);
  for (int t = 0; t < 128; ++t) c.k[t * 4] = static_cast<float>(t);  // norms 0..127
  const auto s = trace::head_statistics(c);
  REQUIRE(s.size() == 1);
  // Rows t = 64..127, uniform over t + 1 keys.
  double sink = 0, recent = 0, ent = 0;
  for (int t = 64; t < 128; ++t) sink += 4.0 / (t + 1) / 64, recent += 64.0 / (t + 1) / 64, ent += std::log(t + 1.0) / 64;
  CHECK(s[0].sink_mass == Approx(sink));
  CHECK(s[0].recent_mass == Approx(recent));
  CHECK(s[0].entropy == Approx(ent));
  CHECK(s[0].norm_corr == Approx(0).margin(1e-9));  // uniform attention: every key every row sees receives the same
  // Queries that prefer low-norm keys: attention received falls with the norm.
  for (int t = 0; t < 128; ++t) c.q_context[t * 4] = -0.05f;
  CHECK(trace::head_statistics(c)[0].norm_corr < -0.5);
}

TEST_CASE("the default generator goes the published directions", "[calibration]") {
  const auto s = trace::head_statistics(needle());
  for (const auto& h : s) {
    CHECK(h.sink_mass > 0.2);   // StreamingLLM: sinks draw a large share
    CHECK(h.norm_corr < 0);     // Devoto et al.: low-norm keys draw attention
    CHECK(h.entropy > 0);
  }
  trace::StatSummary first, last;
  for (const auto& h : trace::head_statistics(needle(0, 4))) first.add(h.entropy);
  for (const auto& h : trace::head_statistics(needle(3, 4))) last.add(h.entropy);
  CHECK(first.mean > last.mean);  // PyramidKV funnel
  CHECK(recall::is_retrieval_layer(3, 4));
  CHECK_FALSE(recall::is_retrieval_layer(0, 4));
}

TEST_CASE("the calibration section pairs measurements with published claims", "[calibration][report]") {
  reports::RunData data;
  CHECK(reports::render_calibration_section(data).empty());
  reports::CaseResult c;
  c.status = "ok", c.config = "kv=full:elem_bytes=2", c.shape = "task=single_needle,lk=1024";
  c.metrics = {{"calib_norm_corr", -0.3, "ratio"}, {"calib_norm_corr_max", 0.1, "ratio"}, {"calib_norm_corr_min", -0.5, "ratio"},
               {"calib_sink_mass", 0.6, "ratio"}, {"calib_sink_mass_max", 0.7, "ratio"}, {"calib_sink_mass_min", 0.5, "ratio"}};
  reports::CaseResult t = c;
  t.shape = "trace=dump,model=org/m,layers=2";
  t.metrics[0].value = 0.2;
  data.cases = {c, t};
  const auto rows = reports::calibration_rows(data);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].source == "generator");
  CHECK(rows[0].statistic == "norm_corr");
  CHECK(rows[0].agrees == "yes");
  CHECK(rows[0].reference.find("Devoto") != std::string::npos);
  CHECK(rows[2].source == "trace dump (org/m)");
  CHECK(rows[2].agrees == "no");
  CHECK(rows[3].reference.find("StreamingLLM") != std::string::npos);
  const std::string html = reports::render_calibration_section(data);
  CHECK(html.starts_with("<section id=\"calibration\">"));
  CHECK(html.find("[-0.500, 0.100]") != std::string::npos);
}
