#include "uniform_tensors.h"

#include <tbb/parallel_for.h>

namespace attnbench::gen {

void fill_normal(const StreamKey& key, float stddev, float* out, uint64_t n) {
  tbb::parallel_for(tbb::blocked_range<uint64_t>(0, n, 1 << 14), [&](const tbb::blocked_range<uint64_t>& r) {
    for (uint64_t i = r.begin(); i != r.end(); ++i) out[i] = static_cast<float>(stddev * key.normal(i));
  });
}

}  // namespace attnbench::gen
