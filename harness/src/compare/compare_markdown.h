// Markdown escaping shared by every Markdown writer: `compare --format md` and
// `report --targets-md`. Header-only because the reports library links no engine code.
// Stored strings (case keys, target sources, reasons) come from suite files and
// databases, so they must not open links, emphasis, code spans, HTML tags or new
// table cells and rows.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace attnbench {

/**
 * `s` as inert Markdown text, safe inside a table cell: \ ` * _ [ ] | ~ get a
 * backslash, & < > become entities (no raw HTML, no autolinks), and newlines and
 * other control characters become spaces (a newline would end the table row).
 */
inline std::string markdown_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    switch (ch) {
      case '\\': case '`': case '*': case '_': case '[': case ']': case '|': case '~':
        out += '\\';
        out += ch;
        break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\r':
        if (i + 1 < s.size() && s[i + 1] == '\n') break;  // CR LF is one line break
        out += ' ';
        break;
      default: out += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? ' ' : ch;
    }
  }
  return out;
}

/**
 * `s` as a code span for a table cell: fenced by one more backtick than its longest
 * backtick run (padded with spaces when it has backticks, so they are not taken as the
 * fence), | escaped for the table (GitHub drops that backslash inside code spans too),
 * control characters as spaces.
 */
inline std::string markdown_code(std::string_view s) {
  if (s.empty()) return {};  // "``" would show as two backticks
  std::string body;
  size_t run = 0, longest = 0;
  for (char ch : s) {
    run = ch == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
    if (ch == '|') body += "\\|";
    else body += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? ' ' : ch;
  }
  const std::string fence(longest + 1, '`');
  const std::string pad = longest ? " " : "";
  return fence + pad + body + pad + fence;
}

}  // namespace attnbench
