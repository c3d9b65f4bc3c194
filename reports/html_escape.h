// Escaping for text that goes into HTML or SVG markup.
#pragma once

#include <string>
#include <string_view>

namespace attnbench::reports {

/// Escapes & < > " ' so `text` is inert both as element content and inside a
/// quoted attribute, in HTML and in (inline) SVG alike.
std::string html_escape(std::string_view text);

}  // namespace attnbench::reports
