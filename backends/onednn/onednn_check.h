// Outcome of a oneDNN backend step: AB_OK, or a status with the reason the harness stores.
#pragma once

#include <string>
#include <utility>

#include "attnbench/plugin_abi.h"

namespace attnbench::onednn {

/// A status and its reason (empty when ok).
struct Check {
  ab_status status = AB_OK;
  std::string reason;
  bool ok() const { return status == AB_OK; }
};

inline Check unsupported(std::string why) { return {AB_UNSUPPORTED, std::move(why)}; }
inline Check invalid(std::string why) { return {AB_INVALID_ARGUMENT, std::move(why)}; }

}  // namespace attnbench::onednn
