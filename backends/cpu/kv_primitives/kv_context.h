// What the KV primitives' ABI table (kv_ops.cpp) needs from the CPU plugin's context;
// defined in cpu_plugin.cpp, which owns the context type.
#pragma once

#include <tbb/task_arena.h>

#include <string>

#include "attnbench/plugin_abi.h"

namespace attnbench::cpu::kv {

/// The context's task arena (its size is the "threads=N" option).
tbb::task_arena& context_arena(void* ctx);

/// Records msg as the context's last_error and returns s.
ab_status context_fail(void* ctx, ab_status s, std::string msg);

/// The KV primitives table the CPU plugin exports (plugin->kv).
extern const ab_kv_ops cpu_kv_ops;

}  // namespace attnbench::cpu::kv
