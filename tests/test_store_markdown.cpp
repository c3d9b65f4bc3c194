// Stored strings in Markdown output: one shared escaping (compare_markdown.h) for
// `compare --format md` and `report --targets-md`, so a case key or a target source
// can neither format the page nor break the table it sits in.
#include <catch2/catch.hpp>

#include "compare_format.h"
#include "compare_markdown.h"

using namespace attnbench;

namespace {

constexpr const char* kHostile = "a|b `c` *d* _e_ [f](javascript:alert(1)) <img src=x> ~~g~~ &lt; h\\i\nj\r\nk";

/// Pipes not preceded by a backslash: the cell separators a renderer sees.
int unescaped_pipes(const std::string& row) {
  int pipes = 0;
  for (size_t k = 0; k < row.size(); ++k) pipes += row[k] == '|' && (k == 0 || row[k - 1] != '\\');
  return pipes;
}

}  // namespace

TEST_CASE("markdown_text escapes every character Markdown or HTML would act on") {
  CHECK(markdown_text(kHostile) ==
        "a\\|b \\`c\\` \\*d\\* \\_e\\_ \\[f\\](javascript:alert(1)) &lt;img src=x&gt; \\~\\~g\\~\\~ &amp;lt; h\\\\i j k");
  CHECK(markdown_text("x1.023 p=0.031") == "x1.023 p=0.031");  // ordinary text stays readable
  CHECK(markdown_text(std::string("a\0b\tc", 5)) == "a b c");
  CHECK(markdown_text("\xE2\x80\x94") == "\xE2\x80\x94");  // UTF-8 passes through
}

TEST_CASE("markdown_code fences a code span longer than any backtick run inside it") {
  CHECK(markdown_code("suite|cpu|flash") == "`suite\\|cpu\\|flash`");
  CHECK(markdown_code("a`b``c") == "``` a`b``c ```");
  CHECK(markdown_code("x\ny") == "`x y`");
  CHECK(markdown_code("") == "");
}

TEST_CASE("compare's Markdown escapes case keys and reasons with the shared functions") {
  compare::StoredCase c;
  c.case_key = kHostile;
  c.backend = "cpu";
  c.config = "flash";
  c.shape = "x";
  c.status = "ok";
  c.seconds = {1, 1, 1, 1};
  compare::StoredCase changed = c;
  changed.config = "flash <b>|x";  // not comparable: the reason quotes both configs
  compare::StoredRun base, cand;
  base.run.id = 1;
  cand.run.id = 2;
  base.cases = {c};
  cand.cases = {changed};
  const std::string md = compare::format_markdown(compare::compare_runs(base, cand, {}));
  CHECK(md.find(markdown_code(kHostile)) != std::string::npos);
  CHECK(md.find("flash &lt;b&gt;\\|x") != std::string::npos);
  // Outside the key's code spans (where markup is inert) no tag survives.
  std::string outside = md;
  for (size_t at; (at = outside.find(markdown_code(kHostile))) != std::string::npos;)
    outside.erase(at, markdown_code(kHostile).size());
  CHECK(outside.find("<b>") == std::string::npos);
  CHECK(outside.find("<img") == std::string::npos);
  for (size_t at = md.find("\n|"); at != std::string::npos; at = md.find("\n|", at + 1)) {
    const std::string row = md.substr(at + 1, md.find('\n', at + 1) - at - 1);
    INFO(row);
    CHECK(unescaped_pipes(row) == 7);  // six columns: verdict, case, two medians, ratio, details
  }
}
