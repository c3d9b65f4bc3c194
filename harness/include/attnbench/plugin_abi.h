/*
 * attnbench backend plugin ABI (plain C, no STL across the boundary).
 *
 * A backend is a shared library `libattnbench-backend-NAME.so` exporting one
 * symbol, ATTNBENCH_PLUGIN_ENTRY, of type ab_plugin_entry_fn. It returns a
 * pointer to a static ab_plugin table. The loader refuses a plugin whose
 * api_version differs from ATTNBENCH_PLUGIN_API_VERSION, and says why.
 *
 * Tensor layouts (row-major, element type `dtype`):
 *   Q, O : [batch, heads_q,  len_q, head_dim]
 *   K, V : [batch, heads_kv, len_k, head_dim]               (contiguous KV)
 *   K, V : [num_pages, heads_kv, page_size, head_dim]       (paged KV; page_size > 0)
 *          block_table: int32 [batch, max_pages_per_seq] mapping logical page -> pool page
 * heads_q must be a multiple of heads_kv (GQA group = heads_q / heads_kv).
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

#define ATTNBENCH_PLUGIN_API_VERSION 1u
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
} ab_peaks;

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
} ab_attention_args;

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
} ab_plugin;

/** Signature of the one exported entry point. */
typedef const ab_plugin* (*ab_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTNBENCH_PLUGIN_ABI_H */
