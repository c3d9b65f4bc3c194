// Variants beyond tier 1 (sparse, approximate, structured) register here: a name,
// a capability check on shape and options, and a kernel. The dispatcher
// (variant_dispatch.cpp) validates the common arguments first, so each entry only
// judges what is its own. The table is compiled per ISA level (isa_namespace.h);
// the types and the option parsing are level-independent.
#pragma once

#include <map>
#include <span>
#include <string>

#include "attnbench/plugin_abi.h"
#include "cpu_kernels.h"
#include "isa_namespace.h"

namespace attnbench::cpu {

/// Options of a variant string ("block_topk:block=64,k=8") as key -> value.
using VariantOptions = std::map<std::string, std::string>;

/// One registered variant. `a` has passed validate_args (shape, lengths; contiguous KV).
struct ExtraVariant {
  const char* name;
  Check (*supports)(const ab_attention_args& a, const VariantOptions& options);
  void (*run)(const ab_attention_args& a, const VariantOptions& options);
  /// Whether the kernel takes any head dims: up to 1024 (MLA's keys are 576 wide) and
  /// head_dim_v != head_dim. Without it the dispatcher refuses d > 256 and dv != d.
  bool any_head_dims = false;
};

/// Base name of a variant string: "block_topk" of "block_topk:block=64,k=8".
std::string variant_base(const char* variant);

/// Options after the ':' of a variant string; empty for a plain name.
VariantOptions variant_options(const char* variant);

}  // namespace attnbench::cpu

AB_CPU_NS_BEGIN

/// All registered extra variants of this level (extra_variants.cpp holds the table).
std::span<const ExtraVariant> extra_variants();

AB_CPU_NS_END
