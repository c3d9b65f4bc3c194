#include "stored_peaks.h"

namespace attnbench {

void store_peaks(store::ResultsStore& db, int64_t run_id, const SupervisedBackend& b) {
  const ab_peaks& p = b.peaks;
  db.add_peak(run_id, b.name, b.device_name, "flops_f32", p.flops_f32, "FLOP/s");
  if (p.flops_f16 > 0) db.add_peak(run_id, b.name, b.device_name, "flops_f16", p.flops_f16, "FLOP/s");
  if (p.flops_bf16 > 0) db.add_peak(run_id, b.name, b.device_name, "flops_bf16", p.flops_bf16, "FLOP/s");
  db.add_peak(run_id, b.name, b.device_name, "bytes_per_second", p.bytes_per_second, "B/s");
  if (p.cache_bytes > 0) db.add_peak(run_id, b.name, b.device_name, "cache_bytes", p.cache_bytes, "B");
}

}  // namespace attnbench
