// Structured recall workloads: synthetic but model-like Q/K/V in which every planted
// needle is retrievable by exact attention with a designed logit margin, so a KV-cache
// method that loses accuracy lost it because of what it dropped, not because of noise.
//
// Geometry (per KV head, head_dim d = rope_dims + content dims):
//   * rotary dims [0, rope_dims): RoPE-rotated positional code. Every key carries
//     R(p) a, every context query R(t-1) a', so the logit depends on t - p only and peaks
//     at the previous token (RoPE long-term decay, Su et al. 2021 RoFormer sec. 3.4.3).
//   * content dims [rope_dims, d): position-free, as in partial rotary (GPT-NeoX
//     rotary_pct, DeepSeek-V2 decoupled RoPE). Needles, questions and sinks live here,
//     which is what makes the needle logit independent of its distance to the question.
// Everything is a pure function of (seed, case_hash, knobs, layout) via counter_rng.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attnbench::recall {

/// Every knob a KV method reacts to, with its default and the observation behind it.
struct RecallKnobs {
  uint64_t seed = 1;       ///< Master seed (counter-based: tensors are pure functions of it).
  uint64_t case_hash = 0;  ///< Case identity; mixes into every stream.
  int32_t heads_q = 4;     ///< Query heads Hq (GQA group g = Hq / Hkv).
  int32_t heads_kv = 2;    ///< KV heads Hkv.
  int32_t head_dim = 64;   ///< d.
  int32_t layer = 0;       ///< Layer index (multi-layer cases, e.g. pyramidkv): mixes into streams.

  // --- positional (RoPE) structure ---------------------------------------------------
  /// Rotated dims (even). Partial rotary: GPT-NeoX rotary_pct=0.25, DeepSeek-V2 decoupled
  /// RoPE; half of d keeps a rich local kernel and a position-free content subspace.
  int32_t rope_dims = 32;
  double rope_base = 10000.0;  ///< RoPE base (Su et al. 2021; Llama-2 default).
  /// Logit a context query gives its previous token through the rotary dims. Local and
  /// previous-token heads dominate real attention maps (Olsson et al. 2022 induction
  /// heads; Xiao et al. 2023 StreamingLLM fig. 2: most mass on sinks + recent tokens).
  double local_logit = 6.0;

  // --- haystack -------------------------------------------------------------------------
  double key_content_std = 1.0;  ///< Per-dim std of haystack key content (unit-free scale).
  double value_std = 1.0;        ///< Per-dim std of haystack values (code words share this norm).
  /// Logit std of context queries' content part on haystack keys (unstructured semantic
  /// attention on top of the local kernel).
  double context_noise_logit_std = 1.0;
  /// Passkey-style repetition: haystack content repeats with this period (0 = none).
  /// RULER/landmark passkey uses a repeated filler sentence (Mohtashami & Jaggi 2023).
  int32_t haystack_period = 0;

  // --- attention sinks (Xiao et al. 2023 StreamingLLM) ---------------------------------
  int32_t n_sinks = 4;  ///< First s tokens are sinks (StreamingLLM keeps 4).
  /// Sink margin: context query t gives each sink logit sink_logit + log((t+1)/n_sinks),
  /// i.e. the sinks beat the log(t) dilution of the rest by this margin, so their share of
  /// attention stays large at every length (StreamingLLM: initial tokens draw a large
  /// share of attention in most layers regardless of content and context length).
  double sink_logit = 3.0;
  /// Sink key L2 norm relative to the median haystack key norm. Devoto et al. 2024 (L2
  /// norm KV compression): keys drawing the most attention have LOW norm; sinks lowest.
  double sink_key_norm_ratio = 0.25;
  /// Sink value scale relative to value_std: sinks carry little (values near zero; Gu et
  /// al. 2024 "When attention sink emerges", Sun et al. 2024 massive activations).
  double sink_value_scale = 0.02;

  // --- needles and questions (RULER, Hsieh et al. 2024) --------------------------------
  /// Designed margin m (nats): needle logit minus log-sum-exp of all other logits of a
  /// question, set against log(Lk) dilution, so exact attention gives the answer
  /// probability ~ sigmoid(m).
  double needle_margin = 4.0;
  /// Needle key L2 norm relative to the median haystack key norm. 1.0 is neutral (l2norm's
  /// result on needles is not built in); < 1 models Devoto et al.'s low-norm observation.
  double needle_key_norm_ratio = 1.0;
  double question_noise = 0.1;  ///< Relative noise of the question query around u.
  int32_t n_codewords = 64;     ///< Codebook size (values of needles and distractors).
  /// Distractors per question: keys with cosine `distractor_cos` to u carrying other code
  /// words (RULER multi-key distractor needles; "lost in the middle" confusions).
  int32_t n_distractors = 2;
  double distractor_cos = 0.5;
  /// Question tokens per question at the end of the prompt. They are prompt queries, so
  /// observation-window methods (SnapKV, Li et al. 2024) see them: SnapKV's observation is
  /// that the question at the prompt end predicts which tokens generation will attend.
  int32_t question_tokens = 4;
  /// Whether the question tokens' queries are prompt queries (query-aware compression,
  /// SnapKV's setting). false = query-agnostic ("compress_before_question"): the cache is
  /// compressed from the context alone, as for a reused or multi-turn cache (kvpress's
  /// default evaluation; KVzip, Kim et al. 2025), so the tail rows of q_context are
  /// ordinary context queries and the questions arrive only as decode queries. K, V, the
  /// questions and the margins are identical in both settings, so they compare directly.
  bool question_in_prompt = true;

  // --- context queries and the needle --------------------------------------------------
  /// Whether prompt queries after a needle attend it before the question arrives. Off:
  /// accumulated-attention eviction (H2O) has no evidence for the needle; this is the
  /// knob that separates H2O from observation-window scoring (CATALOG targets).
  bool context_attends_needle = false;
  double context_needle_logit = 8.0;      ///< Logit of those queries on the needle.
  double context_needle_fraction = 0.1;   ///< Fraction of later prompt queries that do.

  // --- retrieval heads ------------------------------------------------------------------
  /// KV heads that retrieve (0 = all). Only a few heads copy a needle from the context
  /// (Wu et al. 2024, retrieval heads: under 5% of heads; DuoAttention, Xiao et al. 2024:
  /// the others are streaming heads, attending sinks and recent tokens; RazorAttention,
  /// Tang et al. 2024). The retrieving KV heads are drawn from the seed; the others'
  /// question rows (decode queries and question tokens in the prompt) are ordinary context
  /// queries, and accuracy is judged on the query heads of retrieving KV heads
  /// (RecallCase::judged_head): the answer is their output.
  int32_t retrieval_kv_heads = 0;
};

/// One planted token whose key is along a direction of the case.
struct NeedleSpec {
  double depth = 0.5;     ///< 0..1 over the haystack region [n_sinks, tail start).
  int32_t direction = 0;  ///< Index of the key direction u (per KV head).
  int32_t codeword = 0;   ///< Value code word.
};

/// One question: a decode query along direction u; the answer is the set of code words.
struct QuestionSpec {
  int32_t direction = 0;
  std::vector<int32_t> expected;  ///< Code words that must be retrieved (multi-value: > 1).
};

/// Where needles go and what is asked.
struct RecallLayout {
  int32_t len_k = 1024;
  int32_t n_directions = 1;
  std::vector<NeedleSpec> needles;
  std::vector<QuestionSpec> questions;
  int32_t n_pairs_in_margin = 0;  ///< Extra same-norm keys to count in the margin design (MQAR).
};

/// A generated case: plain arrays, row-major.
struct RecallCase {
  int32_t heads_q = 0, heads_kv = 0, len_k = 0, head_dim = 0, n_questions = 0, n_codewords = 0;
  std::vector<float> q_context;   ///< [Hq, Lk, d] one query per prompt token (causal).
  std::vector<float> q_question;  ///< [Hq, n_questions, d] decode queries at position Lk.
  std::vector<float> k, v;        ///< [Hkv, Lk, d] post-RoPE keys, values.
  std::vector<float> codebook;    ///< [n_codewords, d].
  std::vector<int32_t> needle_positions;                 ///< Every planted needle.
  std::vector<int32_t> distractor_positions;
  std::vector<std::vector<int32_t>> question_positions;  ///< Needles answering each question.
  std::vector<std::vector<int32_t>> expected;            ///< Code words per question.
  int32_t n_sinks = 0;
  int32_t tail_start = 0;        ///< First question-token position in the prompt.
  double needle_logit = 0.0;     ///< Designed logit of a question on its needle.
  double designed_margin = 0.0;  ///< knobs.needle_margin.
  /// Exact margin per (question head h, question i) at [h * n_questions + i]:
  /// logsumexp(answer logits) - logsumexp(all other logits).
  std::vector<double> measured_margin;
  /// Per query head: 1 if its KV head retrieves (knobs.retrieval_kv_heads), so recall
  /// accuracy counts its answers; every head when all retrieve.
  std::vector<uint8_t> judged_head;
};

/// Builds the case. Throws std::invalid_argument when the margin cannot be met (the
/// message says which knob to move).
RecallCase generate_recall(const RecallKnobs& knobs, const RecallLayout& layout);

/// Smallest needle logit L with L = log(sum of other exp-logits) + margin, for a
/// haystack whose question logits are N(0, (L * sigma / beta)^2) plus distractors at c*L.
/// Returns a negative value when no solution exists.
double solve_needle_logit(double n_haystack, double sigma_over_beta, int n_distractors,
                          double distractor_cos, double margin);

/// Code words ranked by cosine to o (best first), top n.
std::vector<int32_t> nearest_codewords(const RecallCase& c, const double* o, int32_t n);

/// Whether recall accuracy counts query head h's answers (its KV head retrieves).
inline bool judged(const RecallCase& c, int32_t h) { return c.judged_head.empty() || c.judged_head[h]; }

/// Decodes one output row: correct iff the top-|expected| code words by cosine are
/// exactly the expected set.
bool decode_correct(const RecallCase& c, int32_t question, const double* o);

}  // namespace attnbench::recall
