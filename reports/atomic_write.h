// Writing a file so readers never see it half-written.
#pragma once

#include <string>
#include <string_view>

namespace attnbench::reports {

/// Writes `content` to `path` + ".tmp", flushes it to disk, then renames it over
/// `path`, so `path` holds either the old file or the whole new one. Throws
/// std::runtime_error with a one-line message (and removes the temporary file)
/// when any step fails.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace attnbench::reports
