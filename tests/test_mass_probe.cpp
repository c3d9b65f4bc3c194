// The one-hot mass probe (harness/src/oracle/mass_probe.h) on the CPU backend through its
// plugin: exact kernels keep all the mass, a sliding window keeps exactly the oracle's
// mass inside the window, and top-k decode attends exactly k keys per row.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "backend.h"
#include "case_inputs.h"
#include "mass_probe.h"
#include "output_check.h"
#include "plugin_loader.h"
#include "variant_config.h"

using namespace attnbench;

namespace {

struct CpuBackend {
  std::unique_ptr<LoadedPlugin> plugin;
  std::unique_ptr<Backend> be;
  CpuBackend() {
    std::string why;
    plugin = load_plugin(std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-cpu.so", why);
    REQUIRE(plugin);
    be = std::make_unique<Backend>(*plugin, 0, "threads=2");
  }
};

Shape shape_of(int lq, int lk, int d, ab_dtype dt = AB_F32) {
  Shape s;
  s.batch = 2, s.heads_q = 4, s.heads_kv = 2, s.len_q = lq, s.len_k = lk, s.head_dim = d, s.dtype = dt;
  return s;
}

MassProbeResult probe(CpuBackend& cpu, const std::string& config, const Shape& s, const HostInputs& in) {
  const VariantConfig cfg = parse_variant_config(config);
  const auto rows = checked_rows(s, make_args(cfg, s, in), CheckMode::kFull, 1);
  return probe_attention_mass(*cpu.be, cfg, s, in, rows);
}

}  // namespace

TEST_CASE("exact kernels keep all attention mass", "[mass_probe]") {
  CpuBackend cpu;
  for (ab_dtype dt : {AB_F32, AB_BF16}) {
    const Shape s = shape_of(40, 100, 32, dt);
    const HostInputs in = make_inputs(s, 7);
    const MassProbeResult m = probe(cpu, "flash:causal", s, in);
    CHECK(m.runs == mass_probe_runs(s));
    CHECK(m.runs == 4);
    CHECK(m.rows == 2 * 4 * 40);
    CHECK(m.mass_kept == Approx(1.0).margin(dt == AB_F32 ? 1e-5 : 2e-2));
    CHECK(m.attended_fraction == Approx(1.0));
  }
}

TEST_CASE("a sliding window keeps exactly the oracle's mass inside the window", "[mass_probe]") {
  CpuBackend cpu;
  const Shape s = shape_of(64, 64, 16);
  const HostInputs in = make_inputs(s, 3);
  const VariantConfig cfg = parse_variant_config("sliding_window:causal,window=8:0");
  const auto rows = checked_rows(s, make_args(cfg, s, in), CheckMode::kFull, 1);
  const MassProbeResult m = probe_attention_mass(*cpu.be, cfg, s, in, rows);
  // Expected from the fp64 oracle of full causal attention: mass of keys [i - 8, i].
  const ab_attention_args a = make_args(cfg, s, in);
  const KeyMask causal{{1, -1, -1}, 0};
  double mass = 0, kept = 0, visible = 0;
  std::vector<double> p;
  for (const RowId& r : rows) {
    REQUIRE(reference_probabilities(a, causal, in.q.data(), in.k.data(), r, p));
    for (int j = std::max(0, r.i - 8); j <= r.i; ++j) mass += p[j];
    kept += std::min(r.i, 8) + 1;
    visible += r.i + 1;
  }
  CHECK(m.mass_kept == Approx(mass / rows.size()).epsilon(1e-5));
  CHECK(m.mass_kept < 0.9);
  CHECK(m.attended_fraction == Approx(kept / visible));
}

TEST_CASE("top-k decode attends exactly k keys per row", "[mass_probe]") {
  CpuBackend cpu;
  const Shape s = shape_of(1, 512, 64);
  const HostInputs in = make_inputs(s, 5);
  const MassProbeResult m = probe(cpu, "topk_decode:k=32", s, in);
  CHECK(m.runs == 8);
  CHECK(m.attended_fraction == Approx(32.0 / 512.0));
  // Top-k by q.k keeps at least the k/L share of the mass a random subset would.
  CHECK(m.mass_kept > 32.0 / 512.0);
  CHECK(m.mass_kept < 1.0);
}
