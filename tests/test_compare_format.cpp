// Text, Markdown and JUnit renderings of a comparison: content and well-formed XML.
#include <catch2/catch.hpp>

#include <cmath>
#include <regex>
#include <vector>

#include "compare_format.h"

using namespace attnbench::compare;

namespace {

StoredCase make_case(const std::string& key, std::vector<double> seconds, const std::string& status = "ok") {
  StoredCase c;
  c.case_key = key;
  c.suite = "s<&\"'>";
  c.suite_file_hash = "h";
  c.backend = "cpu";
  c.config = "flash";
  c.shape = "x";
  c.status = status;
  c.message = status == "ok" ? "" : "broke <badly> & \"loudly\"";
  c.seconds = std::move(seconds);
  c.metrics["rel_error"] = 1e-7;
  return c;
}

Comparison sample_comparison() {
  const std::vector<double> t = {1.0, 1.01, 0.99, 1.02, 1.0, 0.98};
  std::vector<double> slow, fast;
  for (double x : t) slow.push_back(x * 1.5), fast.push_back(x * 0.5);
  StoredRun base, cand;
  base.run.id = 1;
  cand.run.id = 2;
  base.cases = {make_case("tiny|cpu|a<b>&\"c\"|x", t), make_case("tiny|cpu|fast|x", t), make_case("tiny|cpu|same|x", t),
                make_case("tiny|cpu|broken|x", t), make_case("tiny|cpu|gone|x", t)};
  cand.cases = {make_case("tiny|cpu|a<b>&\"c\"|x", slow), make_case("tiny|cpu|fast|x", fast),
                make_case("tiny|cpu|same|x", t), make_case("tiny|cpu|broken|x", {}, "failed"),
                make_case("tiny|cpu|new|x", t)};
  return compare_runs(base, cand, {});
}

/// A small XML well-formedness check: balanced tags, quoted attributes, and no raw
/// '<', '&' or '"' where XML forbids them (text and attribute values).
bool well_formed(const std::string& xml, std::string& why) {
  std::vector<std::string> stack;
  size_t i = 0;
  const std::regex entity("^&(amp|lt|gt|quot|apos|#[0-9]+);");
  while (i < xml.size()) {
    if (xml[i] == '&') {
      std::smatch m;
      const std::string rest = xml.substr(i, 8);
      if (!std::regex_search(rest, m, entity)) return why = "bare & at " + std::to_string(i), false;
      i += m.length(0);
      continue;
    }
    if (xml[i] != '<') {
      ++i;
      continue;
    }
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return why = "unterminated tag", false;
    std::string tag = xml.substr(i + 1, end - i - 1);
    i = end + 1;
    if (tag.front() == '?') continue;  // declaration
    // Attribute values must be quoted and hold no '<' or '"' (the tag ended at the first '>').
    if (tag.find('<') != std::string::npos) return why = "'<' inside tag " + tag, false;
    if (std::count(tag.begin(), tag.end(), '"') % 2) return why = "odd quotes in " + tag, false;
    const bool closing = tag.front() == '/', empty = tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" /"));
    if (closing) {
      if (stack.empty() || stack.back() != name) return why = "mismatched </" + name + ">", false;
      stack.pop_back();
    } else if (!empty) {
      stack.push_back(name);
    }
  }
  if (!stack.empty()) return why = "unclosed <" + stack.back() + ">", false;
  return true;
}

}  // namespace

TEST_CASE("JUnit output is well-formed XML with one testcase per case and escaped text") {
  const Comparison c = sample_comparison();
  const std::string xml = format_junit(c);
  std::string why;
  INFO(xml);
  CHECK(well_formed(xml, why));
  INFO(why);
  size_t testcases = 0;
  for (size_t at = xml.find("<testcase "); at != std::string::npos; at = xml.find("<testcase ", at + 1)) ++testcases;
  CHECK(testcases == c.cases.size());
  CHECK_THAT(xml, Catch::Contains("name=\"tiny|cpu|a&lt;b&gt;&amp;&quot;c&quot;|x\""));
  CHECK_THAT(xml, Catch::Contains("classname=\"s&lt;&amp;&quot;&apos;&gt;.cpu\""));
  CHECK_THAT(xml, Catch::Contains("failures=\"2\""));  // slower + ok->failed
  CHECK_THAT(xml, Catch::Contains("skipped=\"2\""));   // only in base + only in candidate
  CHECK_THAT(xml, Catch::Contains("broke &lt;badly&gt; &amp; &quot;loudly&quot;"));
  CHECK_THAT(xml, !Catch::Contains("<badly>"));

  // The checker itself rejects what it should.
  CHECK_FALSE(well_formed("<a><b></a></b>", why));
  CHECK_FALSE(well_formed("<a>x & y</a>", why));
  CHECK_FALSE(well_formed("<a>", why));
}

TEST_CASE("xml_escape escapes markup characters and drops forbidden control characters") {
  CHECK(xml_escape("<a href=\"x\">&'") == "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
  CHECK(xml_escape(std::string("a\x01" "b\tc\n", 6)) == "ab\tc\n");
}

TEST_CASE("Markdown has a summary, tables of regressions and improvements, and escaped pipes") {
  const Comparison c = sample_comparison();
  const std::string md = format_markdown(c);
  CHECK_THAT(md, Catch::StartsWith("### attnbench compare: 2 regressions"));
  CHECK_THAT(md, Catch::Contains("#### Regressions") && Catch::Contains("#### Improvements") &&
                     Catch::Contains("#### Not compared") && Catch::Contains("<details>"));
  CHECK_THAT(md, Catch::Contains("`tiny\\|cpu\\|fast\\|x`"));
  CHECK_THAT(md, Catch::Contains("status ok -&gt; failed"));  // Markdown escapes what it did not write
  // Every table row has the same number of unescaped pipes as the header.
  for (size_t at = md.find("\n|"); at != std::string::npos; at = md.find("\n|", at + 1)) {
    const std::string row = md.substr(at + 1, md.find('\n', at + 1) - at - 1);
    int pipes = 0;
    for (size_t k = 0; k < row.size(); ++k) pipes += row[k] == '|' && (k == 0 || row[k - 1] != '\\');
    CHECK(pipes == 7);  // six columns: verdict, case, base median, cand median, ratio, details
  }
}

TEST_CASE("Markdown shows the base and candidate medians with units next to the ratio") {
  const std::string md = format_markdown(sample_comparison());
  INFO(md);
  CHECK_THAT(md, Catch::Contains("| base median | cand median | cand/base [CI] p |"));
  // Base median 1.0 s everywhere; the slowed case 1.5 s, the sped-up one 0.5 s.
  const std::regex slowed(R"(\| regression \| `tiny\\\|cpu\\\|a[^|]*\|x` \| 1\.00 s \| 1\.50 s \| x1\.500 )");
  CHECK(std::regex_search(md, slowed));
  const std::regex faster(R"(\| improvement \| `tiny\\\|cpu\\\|fast\\\|x` \| 1\.00 s \| 500 ms \| x0\.500 )");
  CHECK(std::regex_search(md, faster));
  // Cases without a time comparison have dashes in both median columns.
  const std::regex gone(R"(\| only in base \| `tiny\\\|cpu\\\|gone\\\|x` \| - \| - \| - \|)");
  CHECK(std::regex_search(md, gone));
}

TEST_CASE("duration_text gives 3 significant digits and a unit") {
  CHECK(duration_text(1.0) == "1.00 s");
  CHECK(duration_text(0.5) == "500 ms");
  CHECK(duration_text(0.00125) == "1.25 ms");
  CHECK(duration_text(999.96e-6) == "1.00 ms");
  CHECK(duration_text(81.2e-6) == "81.2 \xC2\xB5s");
  CHECK(duration_text(812e-9) == "812 ns");
  CHECK(duration_text(0) == "0 s");
  CHECK(duration_text(std::nan("")) == "nan");
}

TEST_CASE("text table lists the worst first and can hide passes") {
  const Comparison c = sample_comparison();
  const std::string all = format_text(c);
  CHECK_THAT(all, Catch::Contains("2 regressions, 1 improvements, 1 pass, 0 not comparable, 1 only in base, 1 only in candidate"));
  CHECK(all.find("tiny|cpu|broken|x") < all.find("tiny|cpu|fast|x"));  // regressions before improvements
  CHECK(all.find("tiny|cpu|fast|x") < all.find("tiny|cpu|same|x"));    // ... before passes
  CHECK_THAT(all, Catch::Contains("tiny|cpu|same|x"));
  CHECK_THAT(format_text(c, false), !Catch::Contains("tiny|cpu|same|x"));
  CHECK_THAT(all, Catch::Contains("x1.500"));
}
