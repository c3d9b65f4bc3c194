// Variant registry of the CPU backend: names, argument validation, declared
// capabilities (with the reason a case is refused), dispatch to the active ISA level's
// kernels, and the FLOP / byte models used to turn a timing into fractions of the peaks.
// Level-independent: compiled once, for the baseline.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "attnbench/attention_hooks.h"
#include "attnbench/dtype.h"
#include "cpu_kernels.h"
#include "extra_variants.h"
#include "isa_table.h"
#include "tensor_access.h"  // compiled here at the baseline: the generic level's copy

namespace attnbench::cpu {
namespace {

constexpr const char* kVariants[] = {"reference", "naive", "flash", "decode", nullptr};
constexpr int kMaxHeadDim = 256;       // extra variants unless they declare any_head_dims
constexpr int kMaxWideHeadDim = 1024;  // tier 1 and wide extra variants (MLA keys: 576)
constexpr int kMaxDecodeQueries = 16;
constexpr double kNaiveMaxScoreBytes = 4.0 * (1ull << 30);  // per head, materialised S

Check invalid(std::string why) { return {AB_INVALID_ARGUMENT, std::move(why)}; }
Check unsupported(std::string why) { return {AB_UNSUPPORTED, std::move(why)}; }

bool is_variant(const char* v, const char* name) { return v && std::strcmp(v, name) == 0; }

bool is_tier1(const std::string& name) {
  return name == "reference" || name == "naive" || name == "flash" || name == "decode";
}

/// The registered extra variant named by the base of `variant`, or nullptr. A tier-1 name
/// runs its own kernel; with options (flash:bias_rank=R) it is looked up among the extras.
const ExtraVariant* find_extra(const char* variant) {
  const std::string base = variant_base(variant);
  if (is_tier1(base) && base == variant) return nullptr;
  for (const ExtraVariant& e : active_kernels().extra_variants())
    if (base == e.name) return &e;
  return nullptr;
}

Check validate_lengths(const int32_t* lens, int batch, int padded, const char* what) {
  if (!lens) return {};
  for (int b = 0; b < batch; ++b) {
    if (lens[b] < 0 || lens[b] > padded)
      return invalid(std::string(what) + "[" + std::to_string(b) + "]=" + std::to_string(lens[b]) +
                     " is outside [0, padded length " + std::to_string(padded) + "]");
  }
  return {};
}

/// Page geometry only: supports() is asked before any buffer exists.
Check validate_page_geometry(const ab_attention_args& a) {
  if (a.page_size < 0) return invalid("page_size must be >= 0");
  if (a.page_size == 0) return {};
  if (a.num_pages <= 0) return invalid("paged KV needs num_pages > 0");
  if (a.kv_layout != AB_KV_HND && a.kv_layout != AB_KV_NHD)
    return invalid("unknown kv_layout " + std::to_string(a.kv_layout) + " (0 = HND, 1 = NHD)");
  if (static_cast<long long>(a.max_pages_per_seq) * a.page_size < a.len_k)
    return invalid("max_pages_per_seq * page_size (" +
                   std::to_string(static_cast<long long>(a.max_pages_per_seq) * a.page_size) +
                   ") is smaller than len_k (" + std::to_string(a.len_k) + ")");
  return {};
}

/// The block table's entries, read at run time when the buffer exists.
Check validate_block_table(const ab_attention_args& a) {
  if (a.page_size <= 0) return {};
  if (!a.block_table) return invalid("paged KV (page_size > 0) needs a block_table");
  const auto* table = host_ptr<const int32_t>(a.block_table);
  for (int b = 0; b < a.batch; ++b) {
    const int pages = (len_k_of(a, b) + a.page_size - 1) / a.page_size;
    for (int p = 0; p < pages; ++p) {
      const int32_t page = table[static_cast<size_t>(b) * a.max_pages_per_seq + p];
      if (page < 0 || page >= a.num_pages)
        return invalid("block_table[" + std::to_string(b) + "][" + std::to_string(p) + "]=" +
                       std::to_string(page) + " is outside [0, num_pages " + std::to_string(a.num_pages) + ")");
    }
  }
  return {};
}

}  // namespace

const char* const* variant_names() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> all(std::begin(kVariants), std::end(kVariants) - 1);
    for (const ExtraVariant& e : active_kernels().extra_variants())
      if (!is_tier1(e.name)) all.push_back(e.name);  // flash's options entry: flash is listed
    all.push_back(nullptr);
    return all;
  }();
  return names.data();
}

Check validate_args(const ab_attention_args& a) {
  if (a.batch < 0) return invalid("batch must be >= 0 (got " + std::to_string(a.batch) + ")");
  if (a.heads_q <= 0 || a.heads_kv <= 0)
    return invalid("heads_q and heads_kv must be > 0 (got " + std::to_string(a.heads_q) + ", " +
                   std::to_string(a.heads_kv) + ")");
  if (a.heads_q % a.heads_kv != 0)
    return invalid("heads_q % heads_kv != 0: heads_q (" + std::to_string(a.heads_q) +
                   ") must be a multiple of heads_kv (" + std::to_string(a.heads_kv) + ")");
  if (a.head_dim <= 0 || a.head_dim > kMaxWideHeadDim)
    return invalid("head_dim must be in [1, " + std::to_string(kMaxWideHeadDim) + "] (got " +
                   std::to_string(a.head_dim) + ")");
  if (a.head_dim_v < 0 || a.head_dim_v > kMaxWideHeadDim)
    return invalid("head_dim_v must be in [0, " + std::to_string(kMaxWideHeadDim) + "] (0 = head_dim; got " +
                   std::to_string(a.head_dim_v) + ")");
  if (a.len_q < 0 || a.len_k < 0)
    return invalid("negative length: len_q=" + std::to_string(a.len_q) + ", len_k=" + std::to_string(a.len_k));
  if (a.dtype != AB_F32 && a.dtype != AB_BF16 && a.dtype != AB_F16)
    return invalid("unknown dtype " + std::to_string(static_cast<int>(a.dtype)));
  if (!std::isfinite(a.scale)) return invalid("scale must be finite");
  if (!(a.softcap >= 0.0f) || !std::isfinite(a.softcap)) return invalid("softcap must be >= 0 and finite");
  if (Check c = validate_lengths(a.seq_len_q, a.batch, a.len_q, "seq_len_q"); !c.ok()) return c;
  if (Check c = validate_lengths(a.seq_len_k, a.batch, a.len_k, "seq_len_k"); !c.ok()) return c;
  return validate_page_geometry(a);
}

Check validate_buffers(const ab_attention_args& a) {
  const bool has_q = a.batch > 0 && a.len_q > 0;
  if (has_q && (!a.q || !a.o)) return invalid("q and o buffers are required");
  if (has_q && a.len_k > 0 && (!a.k || !a.v)) return invalid("k and v buffers are required");
  return validate_block_table(a);
}

Check supports(const char* variant, const ab_attention_args& a) {
  if (const ExtraVariant* extra = find_extra(variant)) {
    if (Check c = validate_args(a); !c.ok()) return c;
    if (a.page_size > 0) return unsupported(std::string(extra->name) + " reads contiguous KV only");
    if (a.lse) return unsupported(std::string(extra->name) + " does not write lse (flash does)");
    if (!extra->any_head_dims && std::max(a.head_dim, a.head_dim_v) > kMaxHeadDim)
      return unsupported(std::string(extra->name) + " handles head dims up to " + std::to_string(kMaxHeadDim));
    if (!extra->any_head_dims && a.head_dim_v != 0 && a.head_dim_v != a.head_dim)
      return unsupported(std::string(extra->name) + " needs head_dim_v == head_dim");
    return extra->supports(a, variant_options(variant));
  }
  const bool known = is_variant(variant, "reference") || is_variant(variant, "naive") ||
                     is_variant(variant, "flash") || is_variant(variant, "decode");
  if (!known)
    return unsupported(std::string("cpu backend has no variant '") + (variant ? variant : "(null)") +
                       "' (see its variants list; tier-1 variants take no options)");
  if (Check c = validate_args(a); !c.ok()) return c;
  if (a.lse && !is_variant(variant, "flash"))
    return unsupported(std::string(variant) + " does not write lse (flash does)");
  if (a.page_size > 0 && a.kv_layout == AB_KV_NHD)
    return unsupported("cpu backend reads paged KV in the HND layout [num_pages, heads_kv, page_size, d] "
                       "(kv_layout 0) only; NHD [num_pages, page_size, heads_kv, d] is not implemented");
  if (a.page_size > 0 && (is_variant(variant, "naive") || is_variant(variant, "flash")))
    return unsupported(std::string(variant) + " reads contiguous KV only; paged KV (page_size > 0) "
                       "is implemented by decode (and reference)");
  if (is_variant(variant, "decode") && a.len_q > kMaxDecodeQueries)
    return unsupported("decode handles len_q <= " + std::to_string(kMaxDecodeQueries) + " (got " +
                       std::to_string(a.len_q) + "); use flash for prefill");
  if (is_variant(variant, "naive") && 4.0 * a.len_q * a.len_k > kNaiveMaxScoreBytes)
    return unsupported("naive materialises len_q x len_k fp32 scores per head (" +
                       std::to_string(static_cast<long long>(4.0 * a.len_q * a.len_k)) +
                       " bytes), above its 4 GiB cap");
  return {};
}

namespace {
std::atomic<uint64_t> g_pairs{0};
std::atomic<bool> g_pairs_counted{false};
}  // namespace

void count_pairs(uint64_t n) {
  g_pairs.fetch_add(n, std::memory_order_relaxed);
  g_pairs_counted.store(true, std::memory_order_relaxed);
}

PairCount last_pair_count() {
  return {g_pairs_counted.load(std::memory_order_relaxed), g_pairs.load(std::memory_order_relaxed)};
}

void reset_pair_count() {
  g_pairs.store(0, std::memory_order_relaxed);
  g_pairs_counted.store(false, std::memory_order_relaxed);
}

Check run_variant(const char* variant, const ab_attention_args& a) {
  reset_pair_count();
  if (Check c = supports(variant, a); !c.ok()) return c;
  if (Check c = validate_buffers(a); !c.ok()) return c;
  try {
    const IsaKernels& k = active_kernels();
    if (const ExtraVariant* extra = find_extra(variant)) extra->run(a, variant_options(variant));
    else if (is_variant(variant, "reference")) k.reference(a);
    else if (is_variant(variant, "naive")) k.naive(a);
    else if (is_variant(variant, "flash")) k.flash(a);
    else k.decode(a);
  } catch (const std::bad_alloc&) {
    return {AB_OUT_OF_MEMORY, std::string(variant) + ": out of host memory"};
  } catch (const std::exception& e) {
    return {AB_INTERNAL_ERROR, std::string(variant) + ": " + e.what()};
  }
  return {};
}

std::string variant_base(const char* variant) {
  if (!variant) return {};
  const char* colon = std::strchr(variant, ':');
  return colon ? std::string(variant, colon) : std::string(variant);
}

VariantOptions variant_options(const char* variant) {
  VariantOptions out;
  const char* colon = variant ? std::strchr(variant, ':') : nullptr;
  if (!colon) return out;
  std::string rest = colon + 1;
  size_t start = 0;
  while (start < rest.size()) {
    size_t end = rest.find(',', start);
    if (end == std::string::npos) end = rest.size();
    const std::string item = rest.substr(start, end - start);
    const size_t eq = item.find('=');
    if (!item.empty()) out[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    start = end + 1;
  }
  return out;
}

double attention_flops(const ab_attention_args& a) {
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  double pairs = 0;
  for (int b = 0; b < a.batch; ++b) {
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    for (int i = 0; i < lq; ++i) {
      const KeyRange r = mask.keys_for(i, lq, lk);
      pairs += r.empty() ? 0 : r.hi - r.lo;
    }
  }
  return 2.0 * (a.head_dim + dv_of(a)) * pairs * a.heads_q;
}

double attention_bytes(const ab_attention_args& a) {
  const MaskHook mask{a.causal, a.window_left, a.window_right};
  const double es = static_cast<double>(dtype_size(a.dtype));
  double bytes = 0;
  for (int b = 0; b < a.batch; ++b) {
    const int lq = len_q_of(a, b), lk = len_k_of(a, b);
    int lo = lk, hi = 0;
    for (int i = 0; i < lq; ++i) {
      const KeyRange r = mask.keys_for(i, lq, lk);
      if (!r.empty()) { lo = std::min(lo, r.lo); hi = std::max(hi, r.hi); }
    }
    const double width = a.head_dim + dv_of(a);
    bytes += lq * a.heads_q * width * es;                          // Q and O
    if (hi > lo) bytes += (hi - lo) * a.heads_kv * width * es;     // K and V
  }
  return bytes;
}

}  // namespace attnbench::cpu
