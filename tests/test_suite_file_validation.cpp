// Suite-file validation: every bad input is one std::invalid_argument line naming the file
// and the field: integers are range-checked before narrowing, types are named, parse
// errors keep their explanation and position, invalid bytes are escaped, duplicate keys
// and bad quick blocks are refused in both modes.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_harness.h"
#include "suite_file.h"

using namespace attnbench;
using attnbench::test::TempDir;
using attnbench::test::write_file;

namespace {

/// An attention suite with one group "g" whose body (after "name") is `fields`.
std::string attention_suite(const std::string& fields) {
  return R"({"suite": "s", "groups": [{"name": "g", "variants": ["flash"], )" + fields + "}]}";
}

/// A recall suite with one single_needle group "g" whose body (after "name") is `fields`.
std::string recall_suite(const std::string& fields) {
  return R"({"suite": "r", "kind": "recall", "groups": [{"name": "g", "task": "single_needle", "methods": ["full"], )" +
         fields + "}]}";
}

/// The message `text` is refused with (loaded from a file named bad.json, in `quick`
/// mode), after checking what every such message must be: one line, naming the file,
/// free of nlohmann's own text and of raw bytes that are not printable UTF-8.
std::string refusal(const std::string& text, bool quick = false) {
  TempDir t;
  write_file(t / "bad.json", text);
  try {
    load_suite(t / "bad.json", quick);
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    CHECK(m.find('\n') == std::string::npos);
    CHECK(m.find("bad.json") != std::string::npos);
    CHECK(m.find("json.exception") == std::string::npos);
    CHECK(suite_json::escape_text(m) == m);  // nothing left to escape
    return m;
  }
  FAIL("accepted: " << text);
  return "";
}

}  // namespace

TEST_CASE("integers are range-checked before they are narrowed", "[suite][validation]") {
  // 4294967304 = 2^32 + 8 used to run as len 8; 2^40 as 0; 2^32 + 1 repetitions as 1.
  std::string m = refusal(attention_suite(R"("axes": {"len": 4294967304})"));
  CHECK_THAT(m, Catch::Contains("group 'g' axes.len") && Catch::Contains("4294967304"));
  m = refusal(attention_suite(R"("axes": {"len_k": 1099511627776})"));
  CHECK_THAT(m, Catch::Contains("axes.len_k") && Catch::Contains("1099511627776"));
  m = refusal(attention_suite(R"("repetitions": 4294967297)"));
  CHECK_THAT(m, Catch::Contains("group 'g' repetitions") && Catch::Contains("4294967297"));
  m = refusal(attention_suite(R"("axes": {"len": 2147483648})"));
  CHECK_THAT(m, Catch::Contains("2147483648") && !Catch::Contains("-2147483648"));
  m = refusal(attention_suite(R"("axes": {"batch": 18446744073709551615})"));
  CHECK_THAT(m, Catch::Contains("axes.batch") && Catch::Contains("18446744073709551615"));
  m = refusal(attention_suite(R"("axes": {"heads_q": [8, -9223372036854775808]})"));
  CHECK_THAT(m, Catch::Contains("axes.heads_q") && Catch::Contains("-9223372036854775808"));
  // The documented bound itself is accepted, one past it is not.
  const auto len_k = [](int64_t n) { return attention_suite(R"("axes": {"len_k": )" + std::to_string(n) + "}"); };
  CHECK_THAT(refusal(len_k(suite_limits::kMaxLen + 1)), Catch::Contains(std::to_string(suite_limits::kMaxLen + 1)));
  CHECK(parse_suite(len_k(suite_limits::kMaxLen), "ok.json", false).cases.at(0).shape.len_k == suite_limits::kMaxLen);
  // Non-integers and negatives where they make no sense.
  CHECK_THAT(refusal(attention_suite(R"("axes": {"len": 1.5})")),
             Catch::Contains("axes.len") && Catch::Contains("expected an integer, got number 1.5"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"head_dim": 64.0})")), Catch::Contains("expected an integer"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"batch": -1})")), Catch::Contains("axes.batch"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"page_size": 131072})")), Catch::Contains("axes.page_size"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"gqa": 0})")), Catch::Contains("axes.gqa"));
  // Floating fields are finite and in range; 1e400 is not a double at all.
  CHECK_THAT(refusal(attention_suite(R"("min_time": 1e300)")), Catch::Contains("group 'g' min_time"));
  CHECK_THAT(refusal(attention_suite(R"("min_time": -0.5)")), Catch::Contains("min_time"));
  CHECK_THAT(refusal(attention_suite(R"("min_time": 1e400)")), Catch::Contains("malformed JSON") && Catch::Contains("1e400"));
  CHECK_THAT(refusal(R"({"defaults": {"repetitions": 0}, "groups": [{"name": "g", "variants": ["flash"]}]})"),
             Catch::Contains("defaults repetitions"));
}

TEST_CASE("a shape's tensors must fit int32 element offsets", "[suite][validation]") {
  // Each size is within its own range, but K has 4 * 8 * 2^24 * 128 = 2^36 elements.
  const std::string m =
      refusal(attention_suite(R"("axes": {"batch": 4, "heads_q": 8, "heads_kv": 8, "len_q": 1, "len_k": 16777216, "head_dim": 128})"));
  CHECK_THAT(m, Catch::Contains("group 'g'") && Catch::Contains("exceeds 2147483647 elements"));
  // A Q of 2^30 elements is accepted, one of 2^31 is not.
  CHECK_NOTHROW(parse_suite(
      attention_suite(R"("axes": {"batch": 2, "heads_q": 32, "len_q": 65536, "len_k": 1, "head_dim": 256})"), "ok.json", false));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"batch": 4, "heads_q": 32, "len_q": 65536, "len_k": 1, "head_dim": 256})")),
             Catch::Contains("exceeds"));
  // Shape::validate holds the same bounds for shapes built elsewhere (CLI overrides).
  Shape s;
  s.len_k = static_cast<int>(suite_limits::kMaxLen) + 1;
  CHECK_THROWS_WITH(s.validate(), Catch::Contains("lengths must be at most"));
  s = Shape{};
  s.page_size = 1 << 17;
  CHECK_THROWS_WITH(s.validate(), Catch::Contains("page_size"));
}

TEST_CASE("recall integers, numbers, knobs and method parameters are range-checked", "[suite][validation][recall]") {
  CHECK_THAT(refusal(recall_suite(R"("axes": {"len_k": 1024, "budget": 4294967297})")),
             Catch::Contains("group 'g' axes.budget") && Catch::Contains("4294967297"));
  CHECK_THAT(refusal(recall_suite(R"("axes": {"len_k": 4294967808})")), Catch::Contains("axes.len_k"));
  CHECK_THAT(refusal(recall_suite(R"("axes": {"n_depths": 2147483648})")), Catch::Contains("axes.n_depths"));
  CHECK_THAT(refusal(recall_suite(R"("axes": {"n_needles": 0})")), Catch::Contains("axes.n_needles"));
  CHECK_THAT(refusal(recall_suite(R"("axes": {"depth": [0.5, 1.5]})")), Catch::Contains("axes.depth"));
  CHECK_THAT(refusal(recall_suite(R"("repetitions": 4294967297)")), Catch::Contains("group 'g' repetitions"));
  CHECK_THAT(refusal(recall_suite(R"("knobs": {"n_sinks": 10000000000000000000})")),
             Catch::Contains("knobs.n_sinks") && Catch::Contains("10000000000000000000"));
  CHECK_THAT(refusal(recall_suite(R"("knobs": {"needle_margin": 1e300})")), Catch::Contains("knobs.needle_margin"));
  CHECK_THAT(refusal(recall_suite(R"("knobs": {"rope_dims": 1.5})")), Catch::Contains("expected an integer"));
  // KV parameters are cast to integers by the methods: refused while still a double.
  TempDir t;
  for (const char* method : {"snapkv:budget=1e30", "streaming:sink=nan", "h2o:recent=inf", "snapkv:budget=-3"}) {
    INFO(method);
    CHECK_THAT(refusal(recall_suite(std::string(R"("quick": {"methods": [")") + method + R"("]})")),
               Catch::Contains("quick.methods") && Catch::Contains(method));
  }
  // Windows of attention variants are bounded as lengths are.
  CHECK_THAT(refusal(recall_suite(R"("variants": ["sliding_window:causal,window=2147483647:0"])")),
             Catch::Contains("window sizes must be at most"));
  CHECK_THAT(refusal(attention_suite(R"("quick": {"variants": ["flash:window=0:2147483647"]})")),
             Catch::Contains("window sizes"));
}

TEST_CASE("a sweep that would expand past the case limit is refused before it is built", "[suite][validation]") {
  // 16^5 = 1M shapes from a 200-byte file.
  const std::string sixteen = "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]";
  const std::string m = refusal(attention_suite(R"("axes": {"batch": )" + sixteen + R"(, "len_q": )" + sixteen +
                                                R"(, "len_k": )" + sixteen + R"(, "head_dim": )" + sixteen +
                                                R"(, "shared_prefix": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]})"));
  CHECK_THAT(m, Catch::Contains("group 'g'") && Catch::Contains("more than " + std::to_string(suite_limits::kMaxCases)));
  CHECK_THAT(refusal(recall_suite(R"("axes": {"len_k": )" + sixteen + R"(, "n_needles": )" + sixteen +
                                  R"(, "n_values": )" + sixteen + R"(, "n_pairs": )" + sixteen + R"(, "n_depths": 1000})")),
             Catch::Contains("more than"));
}

TEST_CASE("type errors name the file and the field path", "[suite][validation]") {
  CHECK_THAT(refusal(R"({"groups": [{"name": "decode", "variants": ["decode"], "repetitions": "five"}]})"),
             Catch::Contains("group 'decode' repetitions: expected an integer, got string \"five\""));
  CHECK_THAT(refusal(R"({"groups": [{"name": "decode", "variants": ["decode"], "axes": {"len": "x"}}]})"),
             Catch::Contains("group 'decode' axes.len: expected an integer, got string"));
  CHECK_THAT(refusal(attention_suite(R"("min_time": "fast")")), Catch::Contains("group 'g' min_time: expected a number"));
  CHECK_THAT(refusal(attention_suite(R"("phase": 3)")), Catch::Contains("group 'g' phase: expected a string, got number 3"));
  CHECK_THAT(refusal(attention_suite(R"("check": [])")), Catch::Contains("group 'g' check: expected a string, got array"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"varlen": 1})")), Catch::Contains("axes.varlen: expected true or false"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"dtype": 16})")), Catch::Contains("axes.dtype: expected a string"));
  CHECK_THAT(refusal(attention_suite(R"("axes": {"gqa": "many"})")), Catch::Contains("axes.gqa"));
  CHECK_THAT(refusal(attention_suite(R"("axes": [1])")), Catch::Contains("group 'g' axes: expected an object"));
  CHECK_THAT(refusal(R"({"suite": 5, "groups": [{"name": "g", "variants": ["flash"]}]})"), Catch::Contains("suite: expected a string"));
  CHECK_THAT(refusal(R"({"description": null, "groups": [{"name": "g", "variants": ["flash"]}]})"),
             Catch::Contains("description: expected a string, got null"));
  CHECK_THAT(refusal(R"({"defaults": {"axes": {"len": true}}, "groups": [{"name": "g", "variants": ["flash"]}]})"),
             Catch::Contains("defaults axes.len: expected an integer, got boolean true"));
  CHECK_THAT(refusal(R"({"groups": [{"name": "g", "variants": ["flash"]}, {"name": 7}]})"), Catch::Contains("groups[1]"));
  CHECK_THAT(refusal(R"({"groups": [3]})"), Catch::Contains("groups[0]"));
  // Recall groups, including an attention suite's own recall group and its defaults' timing.
  CHECK_THAT(refusal(recall_suite(R"("repetitions": "five")")), Catch::Contains("group 'g' repetitions: expected an integer"));
  CHECK_THAT(refusal(recall_suite(R"("knobs": {"needle_margin": "x"})")), Catch::Contains("knobs.needle_margin: expected a number"));
  CHECK_THAT(refusal(recall_suite(R"("knobs": [])")), Catch::Contains("group 'g' knobs: expected an object"));
  CHECK_THAT(refusal(R"({"kind": "recall", "groups": [{"name": "g", "task": 3, "methods": ["full"]}]})"),
             Catch::Contains("'task' must be a string"));
  CHECK_THAT(refusal(R"({"kind": "recall", "groups": [{"name": "g", "methods": ["full"]}]})"), Catch::Contains("'task'"));
  CHECK_THAT(refusal(R"({"defaults": {"min_time": "slow"}, "groups": [{"name": "g", "task": "passkey", "methods": ["full"]}]})"),
             Catch::Contains("defaults min_time: expected a number"));
  CHECK_THAT(refusal(R"({"kind": "recall", "defaults": {"methods": "full"}, "groups": [{"name": "g", "task": "passkey"}]})"),
             Catch::Contains("defaults methods"));
  // A target's range.
  CHECK_THAT(refusal(attention_suite(R"("target": {"source": "a", "claim": "b", "published": "c", "measure": "metric",
                                        "metric": "m", "configs": ["flash"], "expect": "x"})")),
             Catch::Contains("low <= high"));
}

TEST_CASE("parse errors keep nlohmann's explanation, with the line and column", "[suite][validation]") {
  const std::string text = "{\"suite\": \"x\",\n  \"groups\": [ {\"name\": tru } ]}";
  const std::string m = refusal(text);
  // The column (1-based) of the last byte read, the space after "tru", counted from the text.
  const size_t line2 = text.find('\n') + 1;
  const size_t column = text.find("tru ") + 3 - line2 + 1;
  CHECK_THAT(m, Catch::Contains("malformed JSON at line 2, column " + std::to_string(column)));
  // The whole explanation, colons included (it used to be cut at the last one).
  CHECK_THAT(m, Catch::Contains("syntax error while parsing value - invalid literal; last read: '\"name\": tru '"));
  CHECK_THAT(refusal("{\"groups\": [}"), Catch::Contains("line 1, column 13") && Catch::Contains("unexpected '}'"));
  CHECK_THAT(refusal("{\"a\": 1"), Catch::Contains("unexpected end of input"));
}

TEST_CASE("messages escape bytes that are not printable UTF-8", "[suite][validation]") {
  // Invalid UTF-8 in a value and in a key: the parser refuses it, the message shows \xFF.
  std::string m = refusal("{\"groups\": [{\"name\": \"g\xff\", \"variants\": [\"flash\"]}]}");
  CHECK_THAT(m, Catch::Contains("\\xFF") && Catch::Contains("line 1"));
  m = refusal("{\"groups\": [{\"na\xc3me\": \"g\"}]}");
  CHECK_THAT(m, Catch::Contains("\\xC3"));
  // Escaped control characters decode into names; quoted back they stay one line.
  m = refusal(R"({"groups": [{"name": "a\nb\u0007", "variants": ["flash"], "check": "roughly"}]})");
  CHECK_THAT(m, Catch::Contains("group 'a\\x0Ab\\x07'"));
  m = refusal(R"({"groups": [{"name": "g", "variants": ["fla\tsh"]}]})");
  CHECK_THAT(m, Catch::Contains("fla\\x09sh"));
  // Valid UTF-8 is kept as written.
  CHECK_THAT(refusal(R"({"groups": [{"name": "café", "variants": ["flash"], "check": "roughly"}]})"),
             Catch::Contains("group 'café'"));
  // The escaper itself: stray continuation, truncated and overlong sequences, surrogates, C1, DEL.
  CHECK(suite_json::escape_text("a\x80z") == "a\\x80z");
  CHECK(suite_json::escape_text("\xe2\x82") == "\\xE2\\x82");
  CHECK(suite_json::escape_text("\xc0\xaf") == "\\xC0\\xAF");
  CHECK(suite_json::escape_text("\xed\xa0\x80") == "\\xED\\xA0\\x80");
  CHECK(suite_json::escape_text("\xc2\x85|\x7f") == "\\xC2\\x85|\\x7F");
  CHECK(suite_json::escape_text("\xe2\x82\xac \xf0\x9f\x98\x80") == "\xe2\x82\xac \xf0\x9f\x98\x80");
  // A json string holding invalid UTF-8 (dump() would throw type_error 316) is described,
  // and refused as std::invalid_argument, never as a nlohmann exception.
  const nlohmann::json bad = std::string("x\xff");
  CHECK_NOTHROW(suite_json::describe(bad));
  CHECK(suite_json::describe(bad) == "string \"x\\xFF\"");
  CHECK_THROWS_AS(suite_json::read_int(bad, "f.json: len", {0, 1, "lengths"}), std::invalid_argument);
  CHECK_THROWS_WITH(suite_json::read_int(bad, "f.json: len", {0, 1, "lengths"}), Catch::Contains("\\xFF"));
}

TEST_CASE("duplicate keys are refused, naming the key and the object", "[suite][validation]") {
  CHECK_THAT(refusal(R"({"suite": "a", "suite": "b", "groups": [{"name": "g", "variants": ["flash"]}]})"),
             Catch::Contains("duplicate key 'suite' in the top-level object"));
  CHECK_THAT(refusal(R"({"groups": [{"name": "g", "variants": ["flash"]},
                                     {"name": "h", "variants": ["flash"], "axes": {"len": 8, "len": 16}}]})"),
             Catch::Contains("duplicate key 'len' in groups[1].axes"));
  CHECK_THAT(refusal(R"({"groups": [{"name": "g", "variants": ["flash"], "quick": {"axes": {}, "axes": {}}}]})"),
             Catch::Contains("duplicate key 'axes' in groups[0].quick"));
  // The same key in sibling objects is no duplicate.
  CHECK(parse_suite(R"({"groups": [{"name": "g", "variants": ["flash"], "axes": {"len": 8}},
                                    {"name": "h", "variants": ["flash"], "axes": {"len": 16}}]})",
                    "ok.json", false)
            .cases.size() == 2);
  // Nesting deep enough to exhaust the stack in recursive code is refused while parsing.
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  CHECK_THAT(refusal(attention_suite(R"("target": {"note": )" + deep + "}")), Catch::Contains("nested deeper than"));
}

TEST_CASE("a group's quick block is checked whether or not --quick is given", "[suite][validation]") {
  for (bool quick : {false, true}) {
    INFO("quick " << quick);
    CHECK_THAT(refusal(attention_suite(R"("quick": {"axis": {"len": 8}})"), quick),
               Catch::Contains("group 'g' quick") && Catch::Contains("unknown field 'axis'"));
    CHECK_THAT(refusal(attention_suite(R"("quick": "yes")"), quick), Catch::Contains("group 'g' quick: must be false, true or an object"));
    CHECK_THAT(refusal(attention_suite(R"("quick": 0)"), quick), Catch::Contains("quick"));
    CHECK_THAT(refusal(attention_suite(R"("quick": {"axes": {"len": "x"}})"), quick), Catch::Contains("quick.axes.len"));
    CHECK_THAT(refusal(attention_suite(R"("quick": {"variants": ["nope"]})"), quick), Catch::Contains("unknown variant 'nope'"));
    CHECK_THAT(refusal(recall_suite(R"("quick": {"method": ["full"]})"), quick), Catch::Contains("unknown field 'method'"));
    CHECK_THAT(refusal(recall_suite(R"("quick": [])"), quick), Catch::Contains("quick"));
    CHECK_THAT(refusal(recall_suite(R"("quick": {"methods": ["fullkv"]})"), quick), Catch::Contains("quick.methods"));
    CHECK_THAT(refusal(recall_suite(R"("quick": {"axes": {"depth": 2}})"), quick), Catch::Contains("quick.axes.depth"));
    // A group left out of --quick is still checked.
    CHECK_THAT(refusal(attention_suite(R"("quick": false, "axes": {"len": -1})"), quick), Catch::Contains("axes.len"));
  }
  // "quick": true changes nothing.
  CHECK(parse_suite(attention_suite(R"("quick": true)"), "ok.json", true).cases.size() == 1);
}

TEST_CASE("parse_suite expands text as load_suite expands the file", "[suite][validation]") {
  TempDir t;
  const std::string text = attention_suite(R"("axes": {"len": [8, 16]})");
  write_file(t / "s.json", text);
  for (bool quick : {false, true}) {
    const Suite a = load_suite(t / "s.json", quick);
    const Suite b = parse_suite(text, t / "s.json", quick);
    CHECK(a.file_hash == b.file_hash);
    REQUIRE(a.cases.size() == b.cases.size());
    for (size_t i = 0; i < a.cases.size(); ++i) CHECK(a.cases[i].key() == b.cases[i].key());
  }
  CHECK_THROWS_WITH(parse_suite("[]", "text.json", false), Catch::Contains("text.json"));
}
