/*
 * attnbench backend plugin ABI (plain C, no STL across the boundary).
 *
 * A backend is a shared library `libattnbench-backend-NAME.so` exporting one
 * symbol, ATTNBENCH_PLUGIN_ENTRY, of type ab_plugin_entry_fn. It returns a
 * pointer to a static ab_plugin table. The loader refuses a plugin whose
 * api_version differs from ATTNBENCH_PLUGIN_API_VERSION, and says why.
 *
 * Versions: the loader accepts api_version 1 and 2. A v1 table ends at measure_peaks; the
 * loader reads no field past its struct_size, so a v1 plugin runs attention and the cases
 * that need v2 (KV methods, head_dim_v != head_dim, lse, backward) are stored unsupported.
 *
 * Tensor layouts (row-major, element type `dtype`); dv = head_dim_v (0 means head_dim):
 *   Q    : [batch, heads_q,  len_q, head_dim]
 *   O    : [batch, heads_q,  len_q, dv]
 *   K    : [batch, heads_kv, len_k, head_dim]               (contiguous KV)
 *   V    : [batch, heads_kv, len_k, dv]
 *   K, V : [num_pages, heads_kv, page_size, head_dim | dv]  (paged KV; page_size > 0,
 *          kv_layout AB_KV_HND = 0, FlashInfer's "HND", the default)
 *   K, V : [num_pages, page_size, heads_kv, head_dim | dv]  (paged KV, kv_layout AB_KV_NHD:
 *          vLLM's and FlashAttention-2's page layout, FlashInfer's "NHD")
 *          block_table: int32 [batch, max_pages_per_seq] mapping logical page -> pool page
 *   LSE  : f32 [batch, heads_q, len_q], natural log of sum_k exp(scaled logit), when requested
 * Buffer sizes in bytes: ab_tensor_bytes() below, e.g. Q = ab_tensor_bytes(dtype,
 * batch * heads_q * len_q, head_dim). heads_q must be a multiple of heads_kv (GQA group =
 * heads_q / heads_kv).
 *
 * Rows without keys: a fully masked row (every key masked by causal/window) has O = 0 and
 * LSE = -INFINITY. Varlen (seq_len_q/seq_len_k): rows q >= seq_len_q[b] of O and LSE are
 * left untouched (the harness poisons them and checks they stay poisoned); keys
 * k >= seq_len_k[b] are never read.
 *
 * Variant strings: a plain name from the plugin's `variants` list ("flash"), or a name
 * followed by the variant's own options, ":key=value,..." in canonical (sorted) order
 * ("block_topk:block=64,k=8"). Mask and logit options always travel in
 * ab_attention_args. A plugin answers AB_UNSUPPORTED for an option it does not know.
 *
 * Bump ATTNBENCH_PLUGIN_API_VERSION on any change to a struct or signature here.
 */
#ifndef ATTNBENCH_PLUGIN_ABI_H
#define ATTNBENCH_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ATTNBENCH_PLUGIN_API_VERSION 2u
/* Oldest table layout the loader still accepts (attention only). */
#define ATTNBENCH_PLUGIN_API_VERSION_MIN 1u
#define ATTNBENCH_PLUGIN_ENTRY "attnbench_plugin_entry"

#if defined(_WIN32)
#define ATTNBENCH_EXPORT __declspec(dllexport)
#else
#define ATTNBENCH_EXPORT __attribute__((visibility("default")))
#endif

/** Element type of a tensor in memory. Compute is fp32 unless a variant says otherwise. */
typedef enum ab_dtype { AB_F32 = 0, AB_BF16 = 1, AB_F16 = 2 } ab_dtype;

/** Result of every call that can fail. Anything but AB_OK leaves a message in last_error. */
typedef enum ab_status {
  AB_OK = 0,
  AB_UNSUPPORTED = 1,    /* declared capability does not cover this case */
  AB_NO_DEVICE = 2,      /* the backend found no device to run on */
  AB_OUT_OF_MEMORY = 3,  /* allocation failed on the device */
  AB_INVALID_ARGUMENT = 4,
  AB_INTERNAL_ERROR = 5
} ab_status;

/** Opaque device buffer handle (a host pointer on the CPU backend). */
typedef struct ab_buffer_opaque* ab_buffer;

/** What a device is. Strings are NUL-terminated and truncated to fit. */
typedef struct ab_device_info {
  char name[128];
  char driver[64];
  uint64_t memory_bytes;
  int32_t compute_units; /* cores, SMs or CUs */
} ab_device_info;

/** Peaks a backend measured on its device (0 = not measured). */
typedef struct ab_peaks {
  double flops_f32;       /* FLOP/s, fp32 FMA throughput of all compute units */
  double flops_f16;       /* FLOP/s, 16-bit matrix throughput (tensor cores), 0 if none */
  double bytes_per_second;/* sustained read bandwidth of device memory */
  /* Added after ABI v2's first cut; a plugin that leaves it 0 has bf16 cases judged
   * against flops_f16 (then flops_f32), as before. The harness zeroes the struct. */
  double flops_bf16;      /* FLOP/s, bf16 throughput (CPU: VDPBF16PS), 0 if none */
  /* Added with --cold, the same way: bytes of the device's last-level cache (CPU: the
   * host's LLC from sysfs; GPU: L2), 0 if unknown. `--cold` writes twice this between
   * timed calls, and reports flag cases whose working set fits in it. */
  double cache_bytes;
} ab_peaks;

/** Page layout of a paged KV pool (ab_attention_args.kv_layout; ignored when page_size is 0). */
typedef enum ab_kv_layout {
  AB_KV_HND = 0, /* [num_pages, heads_kv, page_size, d]: a head's page is contiguous */
  AB_KV_NHD = 1  /* [num_pages, page_size, heads_kv, d]: a token's heads are contiguous */
} ab_kv_layout;

/** One attention call. Host-side pointers stay valid only during the call. */
typedef struct ab_attention_args {
  int32_t batch, heads_q, heads_kv, len_q, len_k, head_dim;
  ab_dtype dtype;
  int32_t causal;        /* mask k > q + (len_k - len_q): bottom-right aligned */
  int32_t window_left;   /* keys allowed in [q - left, q + right]; -1 = unlimited */
  int32_t window_right;
  float scale;           /* logits multiplier, usually 1/sqrt(head_dim) */
  float softcap;         /* 0 = off; else logits = softcap * tanh(logits / softcap) */
  const int32_t* seq_len_q; /* host [batch] actual lengths (varlen, padded layout) or NULL */
  const int32_t* seq_len_k; /* host [batch] or NULL */
  int32_t page_size;        /* 0 = contiguous KV */
  int32_t max_pages_per_seq;
  int32_t num_pages;
  ab_buffer block_table;    /* int32 device buffer, used when page_size > 0 */
  ab_buffer q, k, v, o;
  /* ---- v2: a v1 plugin never sees these, so the harness only sends defaults to it ---- */
  int32_t head_dim_v;       /* value/output head dim; 0 = head_dim (MLA has dv != head_dim) */
  /* Added after ABI v2's first cut, in the 4 bytes of padding that followed head_dim_v on
   * every 64-bit ABI, so sizeof(ab_attention_args), the offset of lse and the layout of
   * ab_backward_args are unchanged. 0 (AB_KV_HND) is the only layout before it existed;
   * callers value-initialise the struct. A backend that cannot read a layout answers
   * AB_UNSUPPORTED with the reason; an unknown value with page_size > 0 is
   * AB_INVALID_ARGUMENT. */
  int32_t kv_layout;        /* ab_kv_layout of a paged K/V pool (page_size > 0) */
  ab_buffer lse;            /* f32 [batch, heads_q, len_q] log-sum-exp output, or NULL */
} ab_attention_args;

/** Bytes of `rows` rows of `cols` elements of type dtype (every ABI buffer is one of these). */
static inline size_t ab_tensor_bytes(ab_dtype dtype, size_t rows, size_t cols) {
  return rows * cols * (dtype == AB_F32 ? 4u : 2u);
}

/** One backward call (training attention): given Q, K, V, O, LSE of the forward pass and
 *  dO, writes dQ, dK, dV (same shapes as Q, K, V). Shapes and masks come from `fwd`. */
typedef struct ab_backward_args {
  ab_attention_args fwd;    /* fwd.o and fwd.lse are inputs here */
  ab_buffer d_o, d_q, d_k, d_v;
} ab_backward_args;

/* ------------------------------------------------------------------------------------
 * KV-cache primitives (v2). A KV method is a host-side policy (harness or method plugin)
 * over these; every method runs on every backend that implements them. All tensors are
 * f32 device buffers of one layer (no batch axis; methods compress one sequence):
 *   K    : [heads_kv, len_k, head_dim]   V : [heads_kv, len_k, head_dim]
 *   Qctx : [heads_q, q_rows, head_dim]   (the prompt's queries, q_rows = len_k usually)
 * Each call returns its backend-measured duration in *seconds (kernel time, as for
 * run_attention). A backend answers AB_UNSUPPORTED (reason in last_error) for a case it
 * does not cover; a NULL function pointer means the same for every case.
 * ---------------------------------------------------------------------------------- */

/** How scores combine across observation rows or across the query heads of a GQA group. */
typedef enum ab_kv_reduce { AB_KV_SUM = 0, AB_KV_MAX = 1 } ab_kv_reduce;

/** Observation scores: softmax attention probabilities of a set of observation queries over
 *  the cache (or over a per-head subset of it), reduced to one score per (kv head, key).
 *  p[h][r][i] = softmax_i(scale * q[h][row0 + r] . k[h / group][key_i]) over the keys i the
 *  row sees (key position <= q_pos[r] when q_pos is given; a row that sees no key adds 0).
 *  score[j][i] = group_reduce over h in group j of row_reduce over r of weight[r] * p[h][r][i]
 *  (weight = 1 without q_weight; MAX ignores weights), then, when pool > 1, max-pooled over
 *  key slots [i - pool/2, i + pool/2] clipped to [0, pool_end) for slots i < pool_end. */
typedef struct ab_kv_score_args {
  int32_t heads_q, heads_kv, len_k, head_dim;
  ab_buffer k;              /* K [heads_kv, len_k, head_dim] */
  ab_buffer q;              /* Qctx [heads_q, q_rows, head_dim] */
  int32_t q_rows;           /* rows per head in q */
  int32_t row0, n_obs;      /* observation rows are row0 .. row0 + n_obs - 1 */
  const int32_t* q_pos;     /* host [n_obs]: causal limit of each row (key position); NULL = no mask */
  const float* q_weight;    /* host [n_obs]: weight of each row under AB_KV_SUM; NULL = 1 */
  const int32_t* keys;      /* host [heads_kv, keys_stride]: ascending key positions per head; NULL = all */
  const int32_t* key_count; /* host [heads_kv]: keys used per head (with keys) */
  int32_t keys_stride;
  ab_kv_reduce row_reduce, group_reduce;
  int32_t pool;             /* odd max-pool width over key slots, 1 = off */
  int32_t pool_end;         /* slots [0, pool_end) are pooled, others copied; 0 = every slot */
  float scale;              /* logit scale, usually 1/sqrt(head_dim) */
  ab_buffer scores;         /* out f32 [heads_kv, n_out], n_out = keys ? keys_stride : len_k;
                               slots >= key_count[j] are untouched */
} ab_kv_score_args;

/** Statistics methods score keys from. */
typedef enum ab_kv_stat {
  AB_KV_KEY_L2NORM = 0,          /* in K; out f32 [heads_kv, len_k]: ||k|| */
  AB_KV_KEY_CHANNEL_ABSMEAN = 1, /* in K; out f32 [heads_kv, head_dim]: mean over tokens of |k_c| */
  AB_KV_QUERY_MEAN_COV = 2,      /* in Qctx rows row0..row0+n_obs-1; out f32 [heads_q, head_dim
                                    + head_dim * head_dim]: mean, then covariance (1/n_obs) */
  AB_KV_EXPECTED_LOGIT = 3       /* in K and `aux` = QUERY_MEAN_COV output; out f32 [heads_kv, len_k]:
                                    log of the group sum over h of exp(scale * mu_h.k + scale^2 *
                                    k^T Sigma_h k / 2), the expected unnormalised attention of a
                                    Gaussian query (expected attention) */
} ab_kv_stat;

typedef struct ab_kv_stat_args {
  int32_t heads_q, heads_kv, len_k, head_dim;
  ab_kv_stat stat;
  ab_buffer k;              /* K, for key statistics */
  ab_buffer q;              /* Qctx, for AB_KV_QUERY_MEAN_COV */
  int32_t q_rows, row0, n_obs;
  ab_buffer aux;            /* AB_KV_EXPECTED_LOGIT: the QUERY_MEAN_COV output */
  float scale;
  ab_buffer out;
} ab_kv_stat_args;

/** Top-k per row: the k largest of n f32 scores, positions [0, force_head) and
 *  [n - force_tail, n) always kept (counted in k), ties to the lower position. Output
 *  int32 [rows, k] in ascending position order. Requires force_head + force_tail <= k <= n. */
typedef struct ab_kv_topk_args {
  int32_t rows, n, k;
  int32_t force_head, force_tail;
  ab_buffer scores;         /* f32 [rows, n] */
  ab_buffer out;            /* int32 [rows, k] */
} ab_kv_topk_args;

/** Inner products, for methods that cluster or probe (retrieval indexes):
 *  out[b][i][j] = a[b][i] . b[b][j]. */
typedef struct ab_kv_dot_args {
  int32_t batch, m, n, dim;
  ab_buffer a;              /* f32 [batch, m, dim] */
  ab_buffer b;              /* f32 [batch, n, dim] */
  ab_buffer out;            /* f32 [batch, m, n] */
} ab_kv_dot_args;

/** Compaction: gathers the kept slots of every KV head into a compact cache
 *  [heads_kv, kept_stride, head_dim] (K and V). Slot position -1 is a compensation slot
 *  holding the mean K and mean V of the tokens the head does not keep (RazorAttention).
 *  With key_channel_mask, key channels whose mask byte is 0 are written as 0 (LeanK).
 *  Slots >= kept_count[j] are untouched. Decode over the result is run_attention with
 *  batch = heads_kv, heads_kv = 1, heads_q = group, len_k = kept_stride and seq_len_k =
 *  kept_count: each head is one sequence, so existing decode kernels serve. */
typedef struct ab_kv_compact_args {
  int32_t heads_kv, len_k, head_dim;
  ab_buffer k, v;                   /* K, V of the layer */
  const int32_t* kept;              /* host [heads_kv, kept_stride]: ascending positions, -1 last */
  const int32_t* kept_count;        /* host [heads_kv] */
  int32_t kept_stride;
  const uint8_t* key_channel_mask;  /* host [heads_kv, head_dim] or NULL */
  ab_buffer k_out, v_out;           /* f32 [heads_kv, kept_stride, head_dim] */
} ab_kv_compact_args;

/** Quantisation axis: per token (a group spans `group` channels of one token) or per
 *  channel (a group spans `group` tokens of one channel). */
typedef enum ab_kv_quant_axis { AB_KV_PER_TOKEN = 0, AB_KV_PER_CHANNEL = 1 } ab_kv_quant_axis;

/** How K and V are quantised. Codes: asymmetric = round((x - zero) / scale) in
 *  [0, 2^bits - 1], zero = min and scale = (max - min) / (2^bits - 1) of the group; symmetric
 *  = round(x / scale) in [-(2^(bits-1) - 1), 2^(bits-1) - 1], scale = absmax / (2^(bits-1) - 1).
 *  Scales and zero points are rounded to fp16 before use (what a real cache stores). The
 *  last `residual` tokens, plus the tail that does not fill a whole per-channel group,
 *  stay full precision. Dequantisation happens inside decode. */
typedef struct ab_kv_quant_spec {
  int32_t key_bits, value_bits;             /* 1..8 */
  ab_kv_quant_axis key_axis, value_axis;
  int32_t key_group, value_group;           /* 0 = whole row (per token) */
  int32_t symmetric;                        /* 1 = scale only, 0 = scale + zero point */
  int32_t residual;                         /* full-precision recent tokens */
} ab_kv_quant_spec;

typedef struct ab_kv_quant_args {
  int32_t heads_kv, len_k, head_dim;
  ab_kv_quant_spec spec;
  const int32_t* len_per_head;  /* host [heads_kv] tokens of each head (compact caches) or NULL = len_k */
  ab_buffer k, v;               /* f32 [heads_kv, len_k, head_dim] */
  ab_buffer out;                /* backend layout, quant_bytes() bytes */
} ab_kv_quant_args;

/** Decode over a quantised cache: O[h][r] = softmax(scale * q . dequant(K)) dequant(V) over
 *  the head's tokens (no mask: decode queries come after the prompt). */
typedef struct ab_kv_quant_decode_args {
  int32_t heads_q, heads_kv, len_k, head_dim;
  ab_kv_quant_spec spec;
  const int32_t* len_per_head;  /* as in ab_kv_quant_args */
  ab_buffer cache;              /* quantize() output */
  ab_buffer q;                  /* f32 [heads_q, n_q, head_dim] */
  int32_t n_q;
  float scale;
  ab_buffer o;                  /* f32 [heads_q, n_q, head_dim] */
} ab_kv_quant_decode_args;

/** The KV primitives of a backend. */
typedef struct ab_kv_ops {
  uint32_t struct_size;     /* sizeof(ab_kv_ops) as the plugin was built */
  ab_status (*observation_scores)(void* ctx, const ab_kv_score_args* a, double* seconds);
  ab_status (*statistics)(void* ctx, const ab_kv_stat_args* a, double* seconds);
  ab_status (*topk)(void* ctx, const ab_kv_topk_args* a, double* seconds);
  ab_status (*dot)(void* ctx, const ab_kv_dot_args* a, double* seconds);
  ab_status (*compact)(void* ctx, const ab_kv_compact_args* a, double* seconds);
  /** Device bytes the quantised cache of this shape needs (the backend's own layout). */
  ab_status (*quant_bytes)(void* ctx, const ab_kv_quant_args* a, size_t* bytes);
  ab_status (*quantize)(void* ctx, const ab_kv_quant_args* a, double* seconds);
  ab_status (*quant_decode)(void* ctx, const ab_kv_quant_decode_args* a, double* seconds);
} ab_kv_ops;

/** What the last run_attention on a context did, beyond its time (call_stats). */
typedef struct ab_call_stats {
  /* 1: attended_pairs counts the (query, key) pairs the kernel weighted in its softmax,
   * summed over batch and query heads (a sparse or selection kernel); 0: not counted
   * (exact kernels, and backends that do not count). */
  int32_t pairs_counted;
  int32_t reserved;
  uint64_t attended_pairs;
} ab_call_stats;

/** The function table a plugin exports. All function pointers are required. */
typedef struct ab_plugin {
  uint32_t api_version;  /* must equal ATTNBENCH_PLUGIN_API_VERSION */
  uint32_t struct_size;  /* sizeof(ab_plugin) as the plugin was built */
  const char* name;      /* short backend name, e.g. "cpu" */
  const char* description;
  const char* version;
  const char* const* variants; /* NULL-terminated list of variant names it implements */

  /** Number of devices this backend can use now (0 without a device). */
  int32_t (*device_count)(void);
  /** Opens device `device`; `options` is "key=value,..." (e.g. "threads=2"). */
  ab_status (*create)(int32_t device, const char* options, void** ctx);
  void (*destroy)(void* ctx);
  /** Message of the last failed call on ctx (or of create when ctx is NULL). */
  const char* (*last_error)(void* ctx);
  ab_status (*device_info)(void* ctx, ab_device_info* out);

  /** AB_OK if `variant` runs this case, else AB_UNSUPPORTED (or AB_INVALID_ARGUMENT) with the
   *  reason in last_error. A capability query: it judges the shape and options only, and
   *  must accept args whose buffer handles are still NULL (it is asked before allocation). */
  ab_status (*supports)(void* ctx, const char* variant, const ab_attention_args* args);

  ab_status (*alloc)(void* ctx, size_t bytes, ab_buffer* out);
  void (*release)(void* ctx, ab_buffer buf);
  ab_status (*upload)(void* ctx, ab_buffer dst, const void* src, size_t bytes);
  ab_status (*download)(void* ctx, void* dst, ab_buffer src, size_t bytes);
  /** Sets every byte of dst to `byte` (used to poison outputs before a run). */
  ab_status (*fill)(void* ctx, ab_buffer dst, uint8_t byte, size_t bytes);

  /** Runs one attention call and returns its duration measured by the backend
   *  (device events on GPUs), kernel time only, in seconds. */
  ab_status (*run_attention)(void* ctx, const char* variant, const ab_attention_args* args,
                             double* seconds);

  /** Measures this device's peaks (takes a second or so). */
  ab_status (*measure_peaks)(void* ctx, ab_peaks* out);

  /* ---- v2 (absent from a v1 table; the loader reads them as NULL) ---- */
  /** KV primitives, or NULL when the backend offers none (its KV cases are unsupported). */
  const ab_kv_ops* kv;
  /** Backward pass of `variant`, or NULL. */
  ab_status (*run_backward)(void* ctx, const char* variant, const ab_backward_args* args, double* seconds);
  /** Free and total device memory now, or NULL (the harness then uses device_info). */
  ab_status (*memory_info)(void* ctx, uint64_t* free_bytes, uint64_t* total_bytes);
  /* Added within v2: a table built before it ends here (its struct_size says so) and the
   * loader reads the entry as NULL. */
  /** What the last run_attention on ctx counted (ab_call_stats), or NULL. Sparse kernels
   *  that count the pairs they attend give attended fractions at every length, where the
   *  harness's one-hot probe is too slow to run. */
  ab_status (*call_stats)(void* ctx, ab_call_stats* out);
} ab_plugin;

/** struct_size of the first v2 tables (before call_stats): the least the loader accepts. */
#define ATTNBENCH_PLUGIN_V2_BASE_SIZE offsetof(ab_plugin, call_stats)

/** struct_size of a v1 table: the loader accepts exactly this for api_version 1. */
#define ATTNBENCH_PLUGIN_V1_SIZE offsetof(ab_plugin, kv)

/** Signature of the one exported entry point. */
typedef const ab_plugin* (*ab_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNBENCH_PLUGIN_ABI_H */
