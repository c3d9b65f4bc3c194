// --cold and --cold-bytes, shared by `run` and `ab`.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>

namespace attnbench::cli {

/// Adds --cold (flush the device's last-level cache before every timed call, by writing
/// twice its size) and --cold-bytes SIZE (write SIZE bytes instead, e.g. 256M for a GPU
/// whose plugin does not declare its L2; implies --cold) to `cmd`.
inline void add_cold_options(CLI::App* cmd, bool& cold, uint64_t& cold_bytes) {
  cmd->add_flag("--cold", cold,
                "Flush the last-level cache before every timed call (write a buffer twice its size; "
                "the flush is not timed)");
  cmd->add_option("--cold-bytes", cold_bytes,
                  "Bytes each --cold flush writes, e.g. 256M (default: twice the cache the backend declares)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40));
}

}  // namespace attnbench::cli
