#include "variant_registry.h"

#include <algorithm>
#include <cstdlib>

#include "attnbench/attention_hooks.h"
#include "attnbench/dtype.h"

namespace attnbench {
namespace {

// Variant-specific option names (beyond causal/window/softcap), one array per variant.
constexpr const char* kBlockTopkOptions[] = {"block", "k", "per_query"};
constexpr const char* kTopkDecodeOptions[] = {"k", "vote", "score", "rank", "recycle"};
constexpr const char* kHyperOptions[] = {"bits", "block", "samples"};
constexpr const char* kHipOptions[] = {"block", "k"};
constexpr const char* kFlexprefillOptions[] = {"block", "sample", "gamma"};
constexpr const char* kNeighborhoodOptions[] = {"dilation", "stride", "blocked", "block"};
constexpr const char* kPowerOptions[] = {"local", "block"};
constexpr const char* kStridedHeadsOptions[] = {"local"};
constexpr const char* kLinearOptions[] = {"feature", "block", "features", "fdim"};
constexpr const char* kBasedOptions[] = {"fdim", "swa", "block", "linear"};
constexpr const char* kPrefixSharedOptions[] = {"prefix", "chunk"};
constexpr const char* kTreeOptions[] = {"branch"};
constexpr const char* kNsaOptions[] = {"block", "stride", "select", "k", "window", "gate_cmp", "gate_slc", "gate_win"};
constexpr const char* kStarOptions[] = {"block", "query"};
constexpr const char* kLandmarkOptions[] = {"block", "k", "per_query"};
constexpr const char* kRoutingOptions[] = {"clusters", "iters"};
constexpr const char* kAgentOptions[] = {"agents"};
constexpr const char* kSeaOptions[] = {"k", "feature", "features", "fdim"};
constexpr const char* kProbsparseOptions[] = {"factor", "sample"};
constexpr const char* kMosaOptions[] = {"k"};
constexpr const char* kMlaOptions[] = {"latent", "rope"};
constexpr const char* kDiffOptions[] = {"lambda"};
constexpr const char* kFlashOptions[] = {"alibi", "bias_rank"};

// One line per variant: name, description, exact, timed, options.
const VariantInfo kVariants[] = {
    {"reference", "fp64 oracle with materialised scores; never timed against others", true, false},
    {"naive", "materialised S = QK^T, softmax, SV in the working dtype (unfused baseline)", true, true},
    {"flash", "tiled exact attention with online softmax, O(L) extra memory; bias_rank=R (FlashBias): additive "
     "bias U W^T from the last R columns of Q and K (head_dim = d + R, head_dim_v = d, bias not scaled), "
     "alibi=1: the harness fills them with exact ALiBi (rank 2)", true, true, kFlashOptions},
    {"decode", "1..16 queries over a long KV cache, split along keys, log-sum-exp merge", true, true},
    {"linear", "blockwise linear attention (Lightning): feature=elu1|relu|taylor|performer, block, features, fdim; "
     "state D x d per head; FLOPs dense-equivalent", false, true, kLinearOptions},
    {"based", "BASED (causal): softmax over the last swa keys + Taylor linear attention (fdim) over older ones; "
     "block, linear=0|1; FLOPs dense-equivalent", false, true, kBasedOptions},
    {"sliding_window", "neighborhood attention over the mask window (window=L:R, in dilated steps) with "
     "dilation/stride/blocked(+block); exact softmax over the selected keys; FLOPs dense-equivalent", false, true,
     kNeighborhoodOptions},
    {"neighborhood", "Generalized Neighborhood Attention: same pattern and options as sliding_window; "
     "FLOPs dense-equivalent", false, true, kNeighborhoodOptions},
    {"power", "PowerAttention (causal): local window plus key blocks 2^i blocks back (local, block); "
     "FLOPs dense-equivalent", false, true, kPowerOptions},
    {"strided_heads", "S2-Attention: head h attends keys j % H == h plus a local window (local); "
     "FLOPs dense-equivalent", false, true, kStridedHeadsOptions},
    {"block_topk", "MoBA-style routing: per query block keep the top-k key blocks by mean(q).mean(K_block) "
     "plus the local block, exact softmax over them; FLOPs dense-equivalent", false, true, kBlockTopkOptions},
    {"topk_decode", "decode (len_q <= 16): exact top-k keys by q.k per head (vote=1: TokenSelect soft voting "
     "across a GQA group; score=loki: ranked in a rank-r PCA key subspace; recycle=s: Recycled Attention across "
     "the call's query rows), softmax over them; FLOPs dense-equivalent", false, true, kTopkDecodeOptions},
    {"hyper", "HyperAttention: angular-LSH sort, exact diagonal blocks plus sampled key columns (rescaled); "
     "causal/window: both masked by original positions; FLOPs dense-equivalent", false, true, kHyperOptions},
    {"hip", "HiP Attention: per query block, hierarchical top-k (k groups split in halves scored by their centre "
     "key, top-k kept, down to block size) plus the local block, exact softmax over them; FLOPs dense-equivalent",
     false, true, kHipOptions},
    {"flexprefill", "FlexPrefill: per head and query block, the last `sample` queries estimate key-block attention "
     "mass; keep the smallest block set reaching gamma plus the local block; FLOPs dense-equivalent", false, true,
     kFlexprefillOptions},
    {"prefix_shared", "decode with the first `prefix` keys shared by all sequences (stored once, batch 0): prefix "
     "chunks serve all sequences' queries together, own suffix per sequence, log-sum-exp merge (ChunkAttention); "
     "prefix (required), chunk", true, true, kPrefixSharedOptions},
    {"tree", "speculative-decoding tree verification: the last len_q keys are a complete branch-ary draft tree "
     "(BFS order), each node attends the prefix and its ancestors; prefix (on flash) and tree parts computed "
     "separately and merged by log-sum-exp (LongSpec); branch (default 2)", true, true, kTreeOptions},
    {"nsa", "Native Sparse Attention (causal): gated sum of (a) attention over block-mean compressed tokens "
     "(block 32, stride 16), (b) exact attention over the first, local and top-k (16) blocks of `select` (64) keys "
     "ranked by (a)'s probabilities summed over the GQA group, (c) a sliding window (512); fixed gates gate_cmp, "
     "gate_slc, gate_win (1:1:1, normalised); FLOPs dense-equivalent", false, true, kNsaOptions},
    {"star", "Star Attention (causal prefill): context blocks of `block` (512) tokens attend the anchor block plus "
     "their own block; the last `query` (64) rows attend all keys; exact softmax over them; FLOPs dense-equivalent",
     false, true, kStarOptions},
    {"landmark", "Landmark Attention (untrained): each key block of `block` (64) is represented by its largest-norm "
     "key; per query block (per_query=1: per row) keep the top-k (8) blocks by q.landmark plus the local block, "
     "exact softmax over them; FLOPs dense-equivalent", false, true, kLandmarkOptions},
    {"routing", "Routing Transformer: spherical k-means of the normalised keys (clusters, default round(sqrt(L)); "
     "iters 2; evenly spaced init), queries to their nearest centroid, exact softmax over the own cluster's keys "
     "plus the own position under the mask; FLOPs dense-equivalent", false, true, kRoutingOptions},
    {"agent", "Agent Attention (non-causal): n = agents query-pooled agent tokens A (means of n consecutive query "
     "groups), O = softmax(sQA^T) (softmax(sAK^T) V), two flash stages; agents (default 64); FLOPs dense-equivalent",
     false, true, kAgentOptions},
    {"sea", "SEA: per row a linear-attention estimate phi(q).phi(k) of the scores (feature=elu1|relu|taylor|"
     "performer, default performer; features 32; fdim d), exact softmax over its top-k keys; k (default 256); "
     "FLOPs dense-equivalent", false, true, kSeaOptions},
    {"probsparse", "Informer ProbSparse: M(q) = max - mean of s q.k over `sample` random keys (default factor*ceil(ln "
     "Lk)); the top factor*ceil(ln Lq) queries get exact attention, the rest mean(V) over their visible keys "
     "(causal: cumulative mean); factor (default 5); FLOPs dense-equivalent", false, true, kProbsparseOptions},
    {"mosa", "MoSA (self-attention): each head routes by k_t . w_h (fixed random router) and keeps its top-k tokens; "
     "attention among them (causal by position), O(k^2 + T); unselected rows output 0 (the residual carries them); "
     "k (default 1024); FLOPs dense-equivalent", false, true, kMosaOptions},
    {"flowformer", "Flowformer (non-causal): sigmoid-feature linear attention with flow conservation (conserved "
     "incoming/outgoing flows, softmax competition over sources, sigmoid allocation of sinks); linear time; no "
     "options; FLOPs dense-equivalent", false, true},
    {"mla", "DeepSeek-V2 multi-head latent attention decode: one latent row per token (heads_kv 1, head_dim = "
     "latent + rope, head_dim_v = latent; options latent=512, rope=64) shared by all heads, V = K[..., :latent] "
     "(the kernel reads K only); bytes: the latent cache once", true, true, kMlaOptions},
    {"diff", "Differential Transformer: softmax(s Q1 K1^T) V - lambda softmax(s Q2 K2^T) V over the halves of the "
     "head dim (even), lambda option (default 0.8); FLOPs: two score passes at d/2, two P V", true, true,
     kDiffOptions},
};

}  // namespace

std::span<const VariantInfo> all_variants() { return kVariants; }

const VariantInfo* find_variant(std::string_view name) {
  for (const auto& v : kVariants)
    if (name == v.name) return &v;
  return nullptr;
}

KeyMask key_mask(const VariantConfig& cfg) {
  KeyMask m{{cfg.causal, cfg.window_left, cfg.window_right}, 0};
  // The window of sliding_window/neighborhood is the sparsity pattern under test, not the
  // problem: their oracle (and dense-equivalent FLOPs) is attention under the causal mask alone.
  if (cfg.variant == "sliding_window" || cfg.variant == "neighborhood") m.mask.window_left = m.mask.window_right = -1;
  if (cfg.variant == "tree") {
    const auto it = cfg.params.find("branch");
    m.tree_branch = it == cfg.params.end() ? 2 : std::max(1, std::atoi(it->second.c_str()));
  }
  return m;
}

double visible_pairs(const VariantConfig& cfg, const Shape& s, const int* seq_len_q, const int* seq_len_k) {
  const KeyMask mask = key_mask(cfg);
  double pairs = 0;
  for (int b = 0; b < s.batch; ++b) {
    const int lq = seq_len_q ? seq_len_q[b] : s.len_q;
    const int lk = seq_len_k ? seq_len_k[b] : s.len_k;
    double per_head = 0;
    for (int i = 0; i < lq; ++i) {
      per_head += static_cast<double>(mask.count(i, lq, lk));
    }
    pairs += per_head * s.heads_q;
  }
  return pairs;
}

double model_flops(const VariantConfig& cfg, const Shape& s, const int* seq_len_q, const int* seq_len_k) {
  const double pairs = visible_pairs(cfg, s, seq_len_q, seq_len_k);
  // diff: two score maps at d/2 (2 * 2 * d/2) and two P V products (2 * 2 * dv).
  if (cfg.variant == "diff") return (2.0 * s.head_dim + 4.0 * s.dv()) * pairs;
  // 2d for the scores q.k and 2dv for p v, per visible pair.
  return 2.0 * (s.head_dim + s.dv()) * pairs;
}

double model_bytes(const VariantConfig& cfg, const Shape& s, const int* seq_len_q, const int* seq_len_k) {
  double tokens_q = 0, tokens_k = 0;
  for (int b = 0; b < s.batch; ++b) {
    tokens_q += seq_len_q ? seq_len_q[b] : s.len_q;
    tokens_k += seq_len_k ? seq_len_k[b] : s.len_k;
  }
  const double es = static_cast<double>(dtype_size(s.dtype));
  const double q_and_o = es * (s.head_dim + s.dv()) * tokens_q * s.heads_q;
  // mla: the value is the latent prefix of the key row, so the cache is read once.
  if (cfg.variant == "mla") return q_and_o + es * s.head_dim * tokens_k * s.heads_kv;
  return q_and_o + es * (s.head_dim + s.dv()) * tokens_k * s.heads_kv;  // + K and V
}

}  // namespace attnbench
