// Attention the way a framework computes it without a fused kernel, on oneDNN primitives:
// S = scale * Q K^T (matmul, scale as output scale; softcap as tanh post-ops), masked fill
// of S with -inf, softmax (softmax_v2 primitive), O = P V (matmul). The query rows of a KV
// head's group are processed in blocks of rows, so S stays a few MiB and keys no row of a
// block sees (past the causal limit, outside a window) are neither multiplied nor read.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "attnbench/plugin_abi.h"
#include "onednn_check.h"

namespace attnbench::onednn {

/// Variant names of the backend (NULL-terminated): the cpu backend's exact variants.
const char* const* variant_names();

/// Shape and option rules of `variant` (no buffers needed): AB_OK or the reason it is refused.
Check check_args(const char* variant, const ab_attention_args& a);

/// Runs attention on one oneDNN CPU engine, keeping the primitives it built per shape.
class AttentionRunner {
 public:
  AttentionRunner(const dnnl::engine& eng, const dnnl::stream& strm) : eng_(eng), strm_(strm) {}

  /// Whether oneDNN has the matmuls of storage type t on this CPU (probed once per type).
  Check dtype_supported(ab_dtype t);

  /// Computes O (rows of varlen padding untouched). block_rows = 0 picks the block size
  /// from len_k. Arguments must have passed check_args and dtype_supported.
  Check run(const ab_attention_args& a, int block_rows);

  /// What the primitives of one block depend on: nb query heads of m rows each, n keys.
  struct BlockShape {
    ab_dtype dtype;
    int64_t nb, m, n, d, dv;
    int64_t q_batch_stride, o_batch_stride;  // elements between heads in Q and O
    float scale, softcap;
  };

 private:
  /// The three primitives of a block shape.
  struct Primitives {
    dnnl::primitive qk, softmax, pv;
  };
  using Key = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, uint32_t, uint32_t>;
  struct Block;

  const Primitives& primitives(const BlockShape& b);
  void run_block(const ab_attention_args& a, const Block& blk);

  dnnl::engine eng_;
  dnnl::stream strm_;
  std::map<Key, Primitives> cache_;
  std::map<int, Check> dtype_probe_;
  std::vector<float> scores_;           // S of one block, fp32
  std::vector<uint16_t> probs16_;       // P of one block in bf16/fp16 (fp32 reuses scores_)
  std::vector<int32_t> lo_, hi_;        // visible key range of each row of a block
};

}  // namespace attnbench::onednn
