/*
 * attnbench KV-method plugin ABI (plain C, no STL across the boundary).
 *
 * A KV-cache compression method is a host-side policy over the backend's KV primitives
 * (ab_kv_ops in plugin_abi.h): it reads one layer's prefilled cache on the device, scores
 * and selects with the primitives, and answers with a plan, i.e. which slots every KV head
 * keeps, optionally a key-channel mask and a quantisation spec. The harness then builds
 * the cache from the plan with the same primitives (compact, quantize) and decodes over
 * it, so every method (built in or plugged in) is measured by one path on every backend.
 *
 * A method plugin is a shared library `libattnbench-method-NAME.so`, found on
 * ATTNBENCH_PLUGIN_PATH like backends, exporting ATTNBENCH_KV_METHOD_ENTRY of type
 * ab_kv_method_entry_fn, which returns a NULL-terminated array of method tables.
 * The loader refuses a table whose api_version differs and says why.
 *
 * A plugin method is per layer: compress() sees one layer and nothing of the others.
 * Methods that need earlier layers of a case (the built-in cla and tidal, through the
 * harness's C++ CrossLayerContext) are built in only; the ABI carries no such context.
 */
#ifndef ATTNBENCH_KV_METHOD_ABI_H
#define ATTNBENCH_KV_METHOD_ABI_H

#include "plugin_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ATTNBENCH_KV_METHOD_API_VERSION 1u
#define ATTNBENCH_KV_METHOD_ENTRY "attnbench_kv_method_entry"

/** What a method may use: one opened backend device and its primitives. */
typedef struct ab_kv_env {
  const ab_plugin* plugin;  /* alloc/upload/download/release/fill and plugin->kv */
  void* ctx;                /* the opened device, first argument of every plugin call */
} ab_kv_env;

/** One layer's prefilled cache, resident on the device (see plugin_abi.h for layouts). */
typedef struct ab_kv_layer {
  int32_t heads_q, heads_kv, len_k, head_dim;
  ab_buffer k, v;           /* f32 [heads_kv, len_k, head_dim] */
  ab_buffer q_context;      /* f32 [heads_q, len_k, head_dim]: every prompt query (causal: row t
                               sees keys 0..t), or NULL when the method asked for none */
  int32_t layer, num_layers;
} ab_kv_layer;

/** Maximum number of method-specific metrics in a plan. */
#define AB_KV_MAX_METRICS 8

/** A method's answer, written into memory the harness owns and sized for the layer. */
typedef struct ab_kv_plan {
  int32_t* kept;            /* host [heads_kv, kept_stride]: ascending source positions per head,
                               then at most one -1 (compensation slot, see ab_kv_compact_args) */
  int32_t* kept_count;      /* host [heads_kv] */
  int32_t kept_stride;      /* capacity per head: len_k + 1 */
  uint8_t* key_channel_mask;/* host [heads_kv, head_dim], all 1 on entry; 0 = drop the channel */
  int32_t use_channel_mask; /* set to 1 when the mask applies */
  int32_t quantised;        /* set to 1 to quantise the kept slots with `quant` */
  ab_kv_quant_spec quant;
  uint64_t* bytes_per_head; /* host [heads_kv]: bytes each head stores (packed sizes for quantisers) */
  int32_t n_metrics;        /* method-specific metrics, e.g. "scanned_fraction" */
  char metric_name[AB_KV_MAX_METRICS][32];
  double metric_value[AB_KV_MAX_METRICS];
} ab_kv_plan;

/** One KV method. Config strings are "name:key=value,..." (values are numbers). */
typedef struct ab_kv_method {
  uint32_t api_version;     /* ATTNBENCH_KV_METHOD_API_VERSION */
  uint32_t struct_size;     /* sizeof(ab_kv_method) as the plugin was built */
  const char* name;         /* unique method name */
  const char* description;  /* one line, with the paper it follows */
  const char* options;      /* "key=default,..." every option it reads */
  int32_t needs_queries;    /* 1 when compress() reads layer->q_context */
  /** Canonical config (every option, fixed order) into out[cap]; AB_INVALID_ARGUMENT for an
   *  unknown or out-of-range option, with the reason in err[err_cap]. */
  ab_status (*canonical)(const char* config, char* out, size_t cap, char* err, size_t err_cap);
  /** Bytes the configuration asks for on this layer shape, from the configuration alone
   *  (elem_bytes = bytes of one stored full-precision element). The harness checks the
   *  plan's bytes against it, so a method that silently keeps everything fails. */
  ab_status (*requested_bytes)(const char* config, const ab_kv_layer* layer, int32_t elem_bytes,
                               uint64_t* bytes, char* err, size_t err_cap);
  /** Fills `plan` for `layer` using only env's primitives for heavy work. */
  ab_status (*compress)(const ab_kv_env* env, const char* config, const ab_kv_layer* layer,
                        int32_t elem_bytes, ab_kv_plan* plan, char* err, size_t err_cap);
} ab_kv_method;

/** Signature of the one exported entry point: a NULL-terminated array of methods. */
typedef const ab_kv_method* const* (*ab_kv_method_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNBENCH_KV_METHOD_ABI_H */
