// One benchmark case: which suite, which configuration, which shape, and how to check it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "attnbench/plugin_abi.h"
#include "recall_case_spec.h"
#include "variant_config.h"

namespace attnbench {

/// Tensor geometry of a case. Lengths are the padded sizes; varlen cases draw a
/// per-sequence length from the case's random stream.
struct Shape {
  int batch = 1;
  int heads_q = 1;
  int heads_kv = 1;
  int len_q = 1;
  int len_k = 1;
  int head_dim = 64;
  int head_dim_v = 0;    // value / output head dim; 0 = head_dim (MLA: dv != d)
  ab_dtype dtype = AB_F32;
  int page_size = 0;     // > 0: paged KV cache with this many tokens per page
  bool varlen = false;
  int shared_prefix = 0; // > 0: every sequence's first shared_prefix K/V tokens equal batch 0's

  /// Value / output head dim: head_dim_v, or head_dim when it is 0.
  int dv() const { return head_dim_v > 0 ? head_dim_v : head_dim; }

  /// Canonical string, e.g. "b=1,hq=8,hkv=2,lq=1,lk=4096,d=128,bf16,page=64";
  /// ",dv=N" is appended only when the value head dim differs from d, so the keys of
  /// cases with dv == d are those they had before head_dim_v existed.
  std::string canonical() const;
  /// Throws std::invalid_argument with a one-line reason if the shape is impossible.
  void validate() const;
};

/// How outputs are checked against the fp64 oracle.
enum class CheckMode { kFull, kSampled, kNone };

/// A fully specified case, expanded from a suite file.
struct CaseSpec {
  std::string suite;
  std::string suite_file_hash;
  std::string group;
  /// JSON of the published figure this case helps reproduce (suite group "target");
  /// empty for ordinary cases. Stored with the case so reports need no suite file.
  std::string target;
  std::string phase;       // correctness | prefill | decode | ...
  std::string backend;
  VariantConfig config;
  Shape shape;
  CheckMode check = CheckMode::kSampled;
  int repetitions = 5;
  double min_time = 0.05;  // seconds of kernel time per repetition (Google Benchmark)
  /// --cold: flush the device's last-level cache before every timed call. cold_bytes > 0
  /// writes that many bytes; 0 writes twice the cache size the backend declares.
  bool cold = false;
  uint64_t cold_bytes = 0;
  /// Wall-time limit of the case in its worker (suite group "timeout"); 0: the default
  /// scaled from the FLOP and byte models (case_timeout.h).
  double timeout_seconds = 0;
  /// Set for recall cases (phase "recall"): config and shape then come from it, and
  /// `config`/`shape` above are unused. Shared because plans copy cases per backend.
  std::shared_ptr<const RecallCaseSpec> recall;

  /// Configuration string as stored: the variant config, or the recall case's config.
  std::string config_string() const;

  /// Unique key of the case within a run: suite|backend|config|shape, plus |backward for
  /// a backward case.
  std::string key() const;
};

/// Parses "fp32" | "bf16" | "fp16". Throws std::invalid_argument otherwise.
ab_dtype parse_dtype(const std::string& name);

/// Relative L2 error allowed for an exact variant in this dtype.
double error_threshold(ab_dtype dtype);

}  // namespace attnbench
