// Real attention traces: a trace folder written here (C++ .npy writer, float32 and
// float16) loads into recall cases; every malformed input is a one-line refusal naming
// the file; the metrics (output error, mass kept, top-k overlap, bytes) behave; the trace
// suite plans every built-in KV method and the default variants; `attnbench run --trace`
// stores them, and a broken trace exits 2 naming the file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "attention_trace.h"
#include "cli_harness.h"
#include "kv_policy.h"
#include "npy_file.h"
#include "recall_suite.h"
#include "test_kv_backend.h"
#include "trace_suite.h"

using namespace attnbench;
using namespace attnbench::test;
namespace fs = std::filesystem;

namespace {

constexpr int kH = 4, kG = 2, kD = 32, kLen = 96, kT = 80, kLayers = 2;

/// Writes a float16 .npy of values exactly representable in binary16.
void write_npy_f16(const std::string& path, const std::vector<int64_t>& shape, const std::vector<float>& data) {
  std::string dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (" + std::to_string(shape[0]) + ", " +
                     std::to_string(shape[1]) + ", " + std::to_string(shape[2]) + "), }";
  dict += std::string((64 - (10 + dict.size() + 1) % 64) % 64, ' ') + "\n";
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(dict.size() & 0xff)).put(static_cast<char>(dict.size() >> 8));
  out << dict;
  for (float f : data) {  // f = k / 64 with |k| < 1024: sign, exponent and 10 mantissa bits
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint32_t sign = bits >> 16 & 0x8000u;
    uint16_t h = 0;
    if ((bits & 0x7fffffffu) != 0) {
      const int e = static_cast<int>(bits >> 23 & 0xff) - 127 + 15;
      h = static_cast<uint16_t>(sign | static_cast<uint32_t>(e) << 10 | (bits >> 13 & 0x3ffu));
    }
    out.write(reinterpret_cast<const char*>(&h), 2);
  }
}

/// A model-like trace from the recall generator: layer l is a single_needle case with
/// the question tokens after the context.
std::string write_trace(const TempDir& t, const std::string& name = "tr", bool f16_layer1 = false) {
  const std::string dir = t / name;
  fs::create_directories(dir);
  write_file(dir + "/trace.json", R"({"model": "synthetic/recall", "layers": 2, "heads_q": 4, "heads_kv": 2,
    "head_dim": 32, "rope_applied": true, "question_start": 80})");
  for (int l = 0; l < kLayers; ++l) {
    recall::TaskParams p;
    p.len_k = kLen;
    recall::RecallKnobs k;
    k.heads_q = kH, k.heads_kv = kG, k.head_dim = kD, k.rope_dims = 16, k.case_hash = 11 + l;
    k.needle_margin = 1.0, k.n_distractors = 0, k.question_tokens = 1;
    const auto rc = recall::make_task(p, k);
    const std::string ld = dir + "/layer_" + std::to_string(l);
    fs::create_directories(ld);
    auto q = rc.q_context, kk = rc.k, v = rc.v;
    if (f16_layer1 && l == 1) {
      for (auto* a : {&q, &kk, &v})
        for (float& x : *a) x = std::clamp(std::round(x * 64.0f), -1023.0f, 1023.0f) / 64.0f;
      write_npy_f16(ld + "/q.npy", {kH, kLen, kD}, q);
      write_npy_f16(ld + "/k.npy", {kG, kLen, kD}, kk);
      write_npy_f16(ld + "/v.npy", {kG, kLen, kD}, v);
    } else {
      trace::write_npy(ld + "/q.npy", {kH, kLen, kD}, q);
      trace::write_npy(ld + "/k.npy", {kG, kLen, kD}, kk);
      trace::write_npy(ld + "/v.npy", {kG, kLen, kD}, v);
    }
  }
  return dir;
}

/// check_trace's refusal for `dir`, which must name `file` on one line.
void require_refusal(const std::string& dir, const std::string& file, const std::string& why) {
  try {
    trace::check_trace(dir);
    FAIL("accepted a broken trace (" << why << ")");
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find(why) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
}

}  // namespace

TEST_CASE("a trace folder loads into recall cases, float32 and float16", "[trace]") {
  TempDir t;
  const std::string dir = write_trace(t, "tr", true);
  const trace::TraceInfo info = trace::check_trace(dir);
  CHECK(info.model == "synthetic/recall");
  CHECK(info.layers == 2);
  CHECK(info.len == kLen);
  CHECK(info.question_start == kT);
  CHECK(info.shape() == "trace=tr,model=synthetic/recall,layers=2,hq=4,hkv=2,d=32,len=96,qstart=80");
  const auto l0 = trace::load_trace_layer(info, 0);
  CHECK(l0.len_k == kT);
  CHECK(l0.n_questions == kLen - kT);
  CHECK(l0.q_context.size() == static_cast<size_t>(kH) * kT * kD);
  CHECK(l0.k.size() == static_cast<size_t>(kG) * kT * kD);
  CHECK(l0.codebook.empty());
  // The question rows are the queries at positions T.. of the file.
  const auto q = trace::read_npy(dir + "/layer_0/q.npy");
  CHECK(l0.q_question[0] == q[static_cast<size_t>(kT) * kD]);
  CHECK(l0.q_question[static_cast<size_t>(kLen - kT) * kD] == q[static_cast<size_t>(kLen) * kD + kT * kD]);
  CHECK(trace::load_trace_layer(info, 0, 3).n_questions == 3);
  // float16 widens exactly.
  trace::NpyHeader h;
  const auto k1 = trace::read_npy(dir + "/layer_1/k.npy", &h);
  CHECK(h.descr == "<f2");
  bool nonzero = false;
  for (float x : k1) {
    CHECK(x * 64.0f == std::round(x * 64.0f));
    nonzero |= x != 0;
  }
  CHECK(nonzero);
  CHECK(trace::half_to_float(0x3c00) == 1.0f);
  CHECK(trace::half_to_float(0xc000) == -2.0f);
  CHECK(trace::half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(std::isinf(trace::half_to_float(0x7c00)));
}

TEST_CASE("every malformed trace is a one-line refusal naming the file", "[trace]") {
  TempDir t;
  const auto fresh = [&](const std::string& name) { return write_trace(t, name); };
  {
    const std::string d = fresh("nometa");
    fs::remove(d + "/trace.json");
    require_refusal(d, d + "/trace.json", "missing");
  }
  {
    const std::string d = fresh("badjson");
    write_file(d + "/trace.json", "{\"model\": ");
    require_refusal(d, d + "/trace.json", "not valid JSON");
  }
  {
    const std::string d = fresh("nokey");
    write_file(d + "/trace.json", R"({"model": "m", "layers": 2, "heads_q": 4, "heads_kv": 2, "head_dim": 32, "rope_applied": true})");
    require_refusal(d, d + "/trace.json", "question_start");
  }
  {
    const std::string d = fresh("nolayer");
    fs::remove_all(d + "/layer_1");
    require_refusal(d, d + "/layer_1", "missing layer");
  }
  {
    const std::string d = fresh("shape");
    trace::write_npy(d + "/layer_1/k.npy", {3, kLen, kD}, std::vector<float>(3 * kLen * kD));
    require_refusal(d, d + "/layer_1/k.npy", "does not match");
  }
  {
    const std::string d = fresh("len");
    trace::write_npy(d + "/layer_0/v.npy", {kG, kLen - 1, kD}, std::vector<float>(kG * (kLen - 1) * kD));
    require_refusal(d, d + "/layer_0/v.npy", "does not match");
  }
  {
    const std::string d = fresh("dtype");
    std::string bytes = read_file(d + "/layer_0/q.npy");
    bytes.replace(bytes.find("<f4"), 3, "<f8");
    write_file(d + "/layer_0/q.npy", bytes);
    require_refusal(d, d + "/layer_0/q.npy", "not float32 or float16");
  }
  {
    const std::string d = fresh("trunc");
    const std::string bytes = read_file(d + "/layer_1/v.npy");
    write_file(d + "/layer_1/v.npy", bytes.substr(0, bytes.size() - 5));
    require_refusal(d, d + "/layer_1/v.npy", "truncated");
  }
  {
    const std::string d = fresh("magic");
    write_file(d + "/layer_0/k.npy", "not numpy at all");
    require_refusal(d, d + "/layer_0/k.npy", "bad magic");
  }
  {
    const std::string d = fresh("noq");
    write_file(d + "/trace.json", R"({"model": "m", "layers": 2, "heads_q": 4, "heads_kv": 2, "head_dim": 32,
      "rope_applied": true, "question_start": 96})");
    require_refusal(d, d + "/trace.json", "no question tokens");
  }
  require_refusal(t / "absent", t / "absent", "not found");
}

TEST_CASE("trace metrics: full is exact, eviction loses mass, overlap and bytes", "[trace]") {
  TempDir t;
  const auto info = trace::check_trace(write_trace(t));
  const auto rc = trace::load_trace_layer(info, 1);
  const auto full = kvtest::run_case(rc, "full");
  CHECK_FALSE(full.metrics.has_accuracy);
  CHECK(full.metrics.output_error < 1e-5);
  CHECK(full.metrics.mass_kept == Approx(1.0));
  CHECK(full.metrics.topk_overlap == Approx(1.0));
  const auto st = kvtest::run_case(rc, "streaming:budget=16");
  CHECK(st.metrics.mass_kept < 0.999);
  CHECK(st.metrics.topk_overlap < 1.0);
  CHECK(st.metrics.output_error > 1e-3);
  CHECK(st.metrics.kv_bytes < full.metrics.kv_bytes);
  const auto kivi = kvtest::run_case(rc, "kivi:bits=2");
  CHECK(kivi.metrics.mass_kept == Approx(1.0));  // keeps every token, quantised
  CHECK(kivi.metrics.output_error > 0);
}

TEST_CASE("the trace suite plans every built-in KV method and the default variants", "[trace][suite]") {
  TempDir t;
  const std::string dir = write_trace(t);
  const Suite s = trace_suite(dir, false);
  std::set<std::string> methods, keys;
  int variants = 0, ratio_cases = 0;
  for (const CaseSpec& c : s.cases) {
    REQUIRE(c.recall);
    CHECK(c.recall->is_trace());
    CHECK(c.recall->layers == kLayers);
    keys.insert(c.key());
    if (c.recall->is_variant()) { ++variants; continue; }
    methods.insert(c.recall->method_name());
    if (c.recall->compression_ratio >= 0) {
      ++ratio_cases;
      CHECK(c.recall->budget == budget_for_ratio(c.recall->compression_ratio, kT));
    }
  }
  CHECK(keys.size() == s.cases.size());
  for (const auto& m : kv::kv_methods())
    if (m.origin == "built-in") CHECK(methods.count(m.name));
  CHECK(variants >= 10);
  CHECK(ratio_cases > 0);
  // A suite file of kind "trace" refuses a broken trace naming the file.
  write_file(t / "s.json", R"({"suite": "s", "kind": "trace", "groups": [{"name": "g", "trace": "nowhere"}]})");
  REQUIRE_THROWS_WITH(load_suite(t / "s.json", false), Catch::Contains("nowhere") && Catch::Contains("not found"));
  write_file(t / "s2.json", R"({"suite": "s", "kind": "trace", "groups": [{"name": "g", "trace": "tr",
    "methods": ["snapkv"], "variants": [], "axes": {"compression_ratio": [0.5, 1.5]}}]})");
  REQUIRE_THROWS_WITH(load_suite(t / "s2.json", false), Catch::Contains("compression_ratio"));
  write_file(t / "s3.json", R"({"suite": "s", "kind": "trace", "groups": [{"name": "g", "trace": "tr",
    "methods": ["snapkv", "full"], "variants": ["flash:causal"], "axes": {"budget": [16, 200]}}]})");
  CHECK(load_suite(t / "s3.json", false).cases.size() == 3);  // budget 200 >= T is skipped
}

TEST_CASE("attnbench run --trace stores every metric; a broken trace exits 2 naming the file", "[trace][cli]") {
  TempDir t;
  const std::string dir = write_trace(t);
  const std::string db = t / "t.db";
  const CmdResult r = run_attnbench("run --trace " + dir + " --method full,streaming,snapkv,kivi --variant flash:causal --variant 'topk_decode*' --compression-ratio 0.5 --no-peaks --repetitions 1 --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string kv = "SELECT count(*) FROM cases c JOIN metrics m ON m.case_id = c.id WHERE c.config LIKE 'kv=%' AND m.name = ";
  const std::string n_kv = query_one(db, "SELECT count(*) FROM cases WHERE config LIKE 'kv=%'");
  CHECK(n_kv == "4");  // full, kivi, and streaming and snapkv at ratio 0.5
  CHECK(query_one(db, kv + "'compression_ratio_requested'") == "2");
  for (const char* m : {"'output_error_vs_full'", "'attention_mass_kept'", "'topk_overlap'", "'kv_bytes'", "'trace_layers'"})
    CHECK(query_one(db, kv + m) == n_kv);
  CHECK(query_one(db, kv + "'recall_accuracy'") == "0");
  CHECK(query_one(db, "SELECT count(*) FROM cases WHERE config LIKE 'topk_decode%' OR config LIKE 'flash%'") == "2");
  CHECK(query_one(db, "SELECT count(*) FROM cases c JOIN metrics m ON m.case_id = c.id WHERE c.config NOT LIKE 'kv=%'"
                      " AND m.name = 'output_error_vs_full'") == "2");
  CHECK(query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id WHERE c.config LIKE 'kv=full%'"
                      " AND m.name = 'topk_overlap'") == "1.0");
  CHECK(query_one(db, "SELECT shape FROM cases LIMIT 1").starts_with("trace=tr,model=synthetic/recall"));

  fs::remove(dir + "/layer_1/q.npy");
  const CmdResult bad = run_attnbench("run --trace " + dir + " --no-peaks --db " + t / "b.db");
  CHECK(bad.code == 2);
  CHECK(line_count(bad.err) == 1);
  CHECK_THAT(bad.err, Catch::Contains(dir + "/layer_1/q.npy"));
}

TEST_CASE("cla and tidal run over a trace's layers in order", "[trace][cli][cross_layer]") {
  TempDir t;
  const std::string dir = write_trace(t);
  const std::string db = t / "x.db";
  const CmdResult r = run_attnbench("run --trace " + dir + " --method full,cla,tidal --variant flash:causal --compression-ratio 0.5 --no-peaks --repetitions 1 --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto metric = [&](const std::string& method, const std::string& name) {
    return std::stod(query_one(db, "SELECT m.value FROM cases c JOIN metrics m ON m.case_id = c.id WHERE c.config LIKE 'kv=" +
                                       method + "%' AND m.name = '" + name + "'"));
  };
  // Two layers: cla's layer 1 reads layer 0's cache; tidal selects at layer 0 (no middle re-selection).
  CHECK(metric("cla", "kv_bytes") == Approx(metric("full", "kv_bytes") / 2));
  CHECK(metric("tidal", "kv_bytes") == Approx(metric("full", "kv_bytes") * (kT + kT / 2) / (2 * kT)));
  CHECK(metric("tidal", "attention_mass_kept") < 1.0);
  CHECK(metric("cla", "output_error_vs_full") > 0);
}
