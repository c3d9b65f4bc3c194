// The onednn backend's own peaks: the matrix rate oneDNN achieves (a large matmul with
// pre-packed weights, per storage type) and the sustained DRAM read bandwidth.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "attnbench/plugin_abi.h"

namespace attnbench::onednn {

/// FLOP/s of a square matmul of storage type t (fp32 accumulate), best of timed repetitions;
/// 0 when oneDNN has no matmul of that type on this CPU.
double measure_gemm_rate(const dnnl::engine& eng, dnnl::stream& strm, ab_dtype t);

/// Bytes/s of a parallel sequential read over a buffer at least 4x the last-level cache.
double measure_read_bandwidth();

}  // namespace attnbench::onednn
