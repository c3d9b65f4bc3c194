// Host inputs saved to a file and read back, so a fresh worker process does not
// regenerate what the previous one made: `ab` replaces both workers after every pair,
// and generating a long-context case's K and V (hundreds of MB of normal samples) cost
// about 5 s per worker, far more than timing the kernel.
#pragma once

#include <optional>
#include <string>

#include "case_inputs.h"

namespace attnbench {

/// Writes `in` under `key` to `path` (a temporary file renamed into place, so a reader
/// never sees a partial one). False, leaving nothing at `path`, where it cannot write.
bool save_inputs(const std::string& path, const std::string& key, const HostInputs& in);

/// The inputs saved at `path` under `key`; nullopt when the file is absent, unreadable,
/// truncated, or saved under another key (a hash collision of file names).
std::optional<HostInputs> load_inputs(const std::string& path, const std::string& key);

/// The file name inputs of `key` have in a shared folder.
std::string input_file_name(const std::string& key);

}  // namespace attnbench
