#include "diff_attention.h"

#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "isa_kernels.h"
#include "tensor_access.h"

AB_CPU_NS_BEGIN
namespace {

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "diff: " + why}; }

struct DiffScratch {
  ScratchF32 q1, q2, k1, k2, o1, o2;
};
thread_local DiffScratch tls_diff;

/// Bytes of n elements of a.dtype as a float buffer of the calling thread.
void* bytes_buffer(ScratchF32& s, size_t elements, ab_dtype t) {
  return s.get(std::max<size_t>(1, (elements * dtype_size(t) + 3) / 4));
}

/// Splits rows of `width` elements into their first and second halves (raw element copies).
void split_halves(const void* src, size_t rows, int width, ab_dtype t, void* lo, void* hi) {
  const size_t es = dtype_size(t), half = static_cast<size_t>(width / 2) * es;
  const char* s = static_cast<const char*>(src);
  tbb::parallel_for(size_t{0}, rows, [&](size_t r) {
    std::memcpy(static_cast<char*>(lo) + r * half, s + r * width * es, half);
    std::memcpy(static_cast<char*>(hi) + r * half, s + r * width * es + half, half);
  });
}

}  // namespace

bool diff_lambda(const VariantOptions& options, double& lambda) {
  lambda = 0.8;
  const auto it = options.find("lambda");
  if (it == options.end()) return true;
  char* end = nullptr;
  lambda = std::strtod(it->second.c_str(), &end);
  return !it->second.empty() && *end == '\0' && std::isfinite(lambda);
}

Check diff_supports(const ab_attention_args& a, const VariantOptions& options) {
  for (const auto& [key, value] : options)
    if (key != "lambda") return refuse("unknown option '" + key + "' (options: lambda)");
  double lambda;
  if (!diff_lambda(options, lambda)) return refuse("option lambda='" + options.at("lambda") + "' is not a finite number");
  if (a.head_dim % 2 != 0)
    return refuse("Q and K split into two halves: head_dim must be even (got " + std::to_string(a.head_dim) + ")");
  return {};
}

void diff_run(const ab_attention_args& a, const VariantOptions& options) {
  if (a.batch <= 0 || a.len_q <= 0) return;
  double lambda;
  diff_lambda(options, lambda);
  const int d = a.head_dim, dv = dv_of(a);
  const size_t q_rows = static_cast<size_t>(a.batch) * a.heads_q * a.len_q;
  const size_t k_rows = static_cast<size_t>(a.batch) * a.heads_kv * a.len_k;
  DiffScratch& s = tls_diff;
  void* q1 = bytes_buffer(s.q1, q_rows * (d / 2), a.dtype);
  void* q2 = bytes_buffer(s.q2, q_rows * (d / 2), a.dtype);
  void* k1 = bytes_buffer(s.k1, k_rows * (d / 2), a.dtype);
  void* k2 = bytes_buffer(s.k2, k_rows * (d / 2), a.dtype);
  void* o1 = bytes_buffer(s.o1, q_rows * dv, a.dtype);
  void* o2 = bytes_buffer(s.o2, q_rows * dv, a.dtype);
  split_halves(a.q, q_rows, d, a.dtype, q1, q2);
  split_halves(a.k, k_rows, d, a.dtype, k1, k2);

  ab_attention_args half = a;  // same masks, scale, softcap, lengths, V
  half.head_dim = d / 2;
  half.head_dim_v = dv;
  half.q = static_cast<ab_buffer>(q1), half.k = static_cast<ab_buffer>(k1), half.o = static_cast<ab_buffer>(o1);
  flash_attention(half);
  half.q = static_cast<ab_buffer>(q2), half.k = static_cast<ab_buffer>(k2), half.o = static_cast<ab_buffer>(o2);
  flash_attention(half);

  // O = O1 - lambda O2 on the valid rows only (rows past a varlen length stay untouched).
  const float lam = static_cast<float>(lambda);
  tbb::parallel_for(0, a.batch * a.heads_q, [&](int bh) {
    const int b = bh / a.heads_q, h = bh % a.heads_q;
    thread_local std::vector<float> r1, r2;
    r1.resize(dv);
    r2.resize(dv);
    for (int i = 0; i < len_q_of(a, b); ++i) {
      const size_t off = row_offset(b, h, i, a.heads_q, a.len_q, dv);
      load_row_f32(a.dtype, o1, off, r1.data(), dv);
      load_row_f32(a.dtype, o2, off, r2.data(), dv);
      for (int t = 0; t < dv; ++t) r1[t] -= lam * r2[t];
      store_row(a.dtype, a.o, off, r1.data(), dv);
    }
  });
}

AB_CPU_NS_END
