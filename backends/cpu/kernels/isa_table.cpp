// The entry-point table of one ISA level (compiled into every level's namespace).
#include "isa_kernels.h"

AB_CPU_NS_BEGIN

const IsaKernels& isa_kernels() {
  static const IsaKernels table = {
      AB_CPU_ISA_NAME,
      extra_variants,
      reference_attention_cpu,
      naive_attention,
      flash_attention,
      decode_attention,
      fma_f32_flops_per_iter,
      fma_f32_loop,
      has_dot_bf16() ? dot_bf16_flops_per_iter : nullptr,
      has_dot_bf16() ? dot_bf16_loop : nullptr,
      sum_stream,
      naive_backward,
      flash_backward,
  };
  return table;
}

AB_CPU_NS_END
