// The kernels of one ISA level as the other sources of that level see them (the
// level-independent code sees them only through isa_table.h's IsaKernels).
#pragma once

#include "isa_table.h"

AB_CPU_NS_BEGIN

void reference_attention_cpu(const ab_attention_args& a);
void naive_attention(const ab_attention_args& a);
void flash_attention(const ab_attention_args& a);
void decode_attention(const ab_attention_args& a);
/// Backward passes (naive_backward.cpp, flash_backward.cpp).
void naive_backward(const ab_backward_args& g);
void flash_backward(const ab_backward_args& g);

/// Where decode reads value rows: `base` laid out like V (contiguous or paged) with rows of
/// `row` elements, of which the first dv are the value (MLA: the latent prefix of K rows).
struct ValueSource {
  const void* base;
  int row;
};

/// decode with the values read from `vs` instead of a.v (decode_attention passes a.v, dv).
void decode_attention_values(const ab_attention_args& a, const ValueSource& vs);

/// Peak loops of this level (peak_measurement.cpp).
double fma_f32_flops_per_iter();
void fma_f32_loop(long iters);
double dot_bf16_flops_per_iter();
void dot_bf16_loop(long iters);
float sum_stream(const float* p, size_t n);
/// Whether this level has the VDPBF16PS loop.
bool has_dot_bf16();

/// This level's table.
const IsaKernels& isa_kernels();

AB_CPU_NS_END
