#include "kv_primitives.h"

#include "kv_plan_executor.h"

#include <cstddef>
#include <string>

namespace attnbench::kv {
namespace {

// Seconds of every primitive this thread called (see thread_kv_seconds).
thread_local double t_kv_seconds = 0;

}  // namespace

double thread_kv_seconds() { return t_kv_seconds; }

bool has_kv_primitives(const ab_plugin& p) {
  return p.api_version >= 2 && p.struct_size > offsetof(ab_plugin, kv) && p.kv != nullptr;
}

KvBuffer& KvBuffer::operator=(KvBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    env_ = o.env_, buf_ = o.buf_, bytes_ = o.bytes_;
    o.buf_ = nullptr;
  }
  return *this;
}

void KvBuffer::reset() noexcept {
  if (buf_ && env_) env_->plugin->release(env_->ctx, buf_);
  buf_ = nullptr;
}

KvPrimitives::KvPrimitives(const ab_kv_env& env) : env_(env) {
  if (!env.plugin || !has_kv_primitives(*env.plugin))
    throw KvUnsupported(std::string("backend '") + (env.plugin && env.plugin->name ? env.plugin->name : "?") +
                        "' has no KV primitives" +
                        (env.plugin && env.plugin->api_version < 2 ? " (a v1 plugin: attention only)" : ""));
  ops_ = env.plugin->kv;
}

void KvPrimitives::check(ab_status st, const char* what, double s) {
  if (st == AB_OK) {
    seconds_ += s;
    t_kv_seconds += s;
    return;
  }
  const char* why = env_.plugin->last_error(env_.ctx);
  const std::string msg = std::string(env_.plugin->name) + " " + what + ": " + (why && *why ? why : "failed");
  if (st == AB_UNSUPPORTED) throw KvUnsupported(msg);
  throw KvPrimitiveError(st, msg);
}

void KvPrimitives::missing(const char* what) const {
  throw KvUnsupported(std::string("backend '") + env_.plugin->name + "' does not implement the KV primitive " + what);
}

KvBuffer KvPrimitives::alloc(size_t bytes) {
  ab_buffer b = nullptr;
  check(env_.plugin->alloc(env_.ctx, bytes ? bytes : 1, &b), "alloc", 0);
  return KvBuffer(&env_, b, bytes);
}

void KvPrimitives::upload_bytes(ab_buffer dst, const void* src, size_t bytes) {
  if (bytes) check(env_.plugin->upload(env_.ctx, dst, src, bytes), "upload", 0);
}

void KvPrimitives::download_bytes(void* dst, ab_buffer src, size_t bytes) {
  if (bytes) check(env_.plugin->download(env_.ctx, dst, src, bytes), "download", 0);
}

void KvPrimitives::fill(ab_buffer dst, uint8_t byte, size_t bytes) {
  if (bytes) check(env_.plugin->fill(env_.ctx, dst, byte, bytes), "fill", 0);
}

// One body per primitive: NULL means unsupported for every case.
#define ATTNBENCH_KV_CALL(fn, args)                       \
  do {                                                    \
    if (!ops_->fn) missing(#fn);                          \
    double s = 0; /* the status first: s is read after */ \
    const ab_status st = ops_->fn(env_.ctx, &(args), &s); \
    check(st, #fn, s);                                    \
  } while (0)

void KvPrimitives::observation_scores(const ab_kv_score_args& a) { ATTNBENCH_KV_CALL(observation_scores, a); }
void KvPrimitives::statistics(const ab_kv_stat_args& a) { ATTNBENCH_KV_CALL(statistics, a); }
void KvPrimitives::topk(const ab_kv_topk_args& a) { ATTNBENCH_KV_CALL(topk, a); }
void KvPrimitives::dot(const ab_kv_dot_args& a) { ATTNBENCH_KV_CALL(dot, a); }
void KvPrimitives::compact(const ab_kv_compact_args& a) { ATTNBENCH_KV_CALL(compact, a); }
void KvPrimitives::quantize(const ab_kv_quant_args& a) { ATTNBENCH_KV_CALL(quantize, a); }
void KvPrimitives::quant_decode(const ab_kv_quant_decode_args& a) { ATTNBENCH_KV_CALL(quant_decode, a); }
#undef ATTNBENCH_KV_CALL

size_t KvPrimitives::quant_bytes(const ab_kv_quant_args& a) {
  if (!ops_->quant_bytes) missing("quant_bytes");
  size_t bytes = 0;
  check(ops_->quant_bytes(env_.ctx, &a, &bytes), "quant_bytes", 0);
  return bytes;
}

void KvPrimitives::attention(const char* variant, const ab_attention_args& a) {
  if (env_.plugin->supports(env_.ctx, variant, &a) != AB_OK) {
    const char* why = env_.plugin->last_error(env_.ctx);
    throw KvUnsupported(std::string(env_.plugin->name) + " " + variant + ": " + (why && *why ? why : "unsupported"));
  }
  double s = 0;
  const ab_status st = env_.plugin->run_attention(env_.ctx, variant, &a, &s);  // before s is read
  check(st, variant, s);
}

std::vector<std::vector<int32_t>> KvPrimitives::topk_rows(ab_buffer scores, int32_t rows, int32_t n, int32_t k,
                                                          int32_t force_head, int32_t force_tail) {
  KvBuffer out = alloc(static_cast<size_t>(rows) * k * sizeof(int32_t));
  ab_kv_topk_args a{};
  a.rows = rows, a.n = n, a.k = k, a.force_head = force_head, a.force_tail = force_tail;
  a.scores = scores, a.out = out.get();
  topk(a);
  const std::vector<int32_t> flat = download<int32_t>(out.get(), static_cast<size_t>(rows) * k);
  std::vector<std::vector<int32_t>> r(rows);
  for (int32_t i = 0; i < rows; ++i) r[i].assign(flat.begin() + static_cast<size_t>(i) * k, flat.begin() + static_cast<size_t>(i + 1) * k);
  return r;
}

}  // namespace attnbench::kv
