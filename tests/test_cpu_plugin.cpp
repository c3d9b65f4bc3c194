// The CPU backend through its plugin ABI, as the harness loader sees it: dlopen
// the built libattnbench-backend-cpu.so from ATTNBENCH_BIN_DIR/plugins, check the
// table, option parsing, capability reasons, buffers, a full run against the
// oracle, and the peaks.
#include <catch2/catch.hpp>
#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "test_cpu_common.h"

using namespace cpu_test;

namespace {

const ab_plugin* load_plugin() {
  static const ab_plugin* plugin = [] () -> const ab_plugin* {
    const std::string path = std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-cpu.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      FAIL("cannot dlopen " << path << ": " << dlerror() << " (build attnbench-backend-cpu first)");
      return nullptr;
    }
    auto entry = reinterpret_cast<ab_plugin_entry_fn>(dlsym(lib, ATTNBENCH_PLUGIN_ENTRY));
    if (!entry) {
      FAIL("no " ATTNBENCH_PLUGIN_ENTRY " in " << path);
      return nullptr;
    }
    return entry();
  }();
  return plugin;
}

/// A context on the one CPU device, destroyed at scope exit.
struct Ctx {
  const ab_plugin* p;
  void* ctx = nullptr;
  explicit Ctx(const char* options = "threads=2") : p(load_plugin()) {
    REQUIRE(p->create(0, options, &ctx) == AB_OK);
  }
  ~Ctx() { if (ctx) p->destroy(ctx); }
};

}  // namespace

TEST_CASE("plugin table: version, size, name, variants", "[cpu][plugin]") {
  const ab_plugin* p = load_plugin();
  REQUIRE(p != nullptr);
  CHECK(p->api_version == ATTNBENCH_PLUGIN_API_VERSION);
  CHECK(p->struct_size == sizeof(ab_plugin));
  CHECK(std::string(p->name) == "cpu");
  std::vector<std::string> names;
  for (const char* const* v = p->variants; *v; ++v) names.push_back(*v);
  // Tier 1 first; registered extra (tier-2) variants follow.
  REQUIRE(names.size() >= 4);
  CHECK(std::vector<std::string>(names.begin(), names.begin() + 4) ==
        std::vector<std::string>{"reference", "naive", "flash", "decode"});
  CHECK(std::find(names.begin(), names.end(), "block_topk") != names.end());
  CHECK(p->device_count() == 1);
}

TEST_CASE("plugin create: options parsed, unknown option refused with a reason", "[cpu][plugin]") {
  const ab_plugin* p = load_plugin();
  void* ctx = nullptr;
  CHECK(p->create(0, "bogus=1", &ctx) == AB_INVALID_ARGUMENT);
  CHECK(ctx == nullptr);
  CHECK_THAT(std::string(p->last_error(nullptr)), Catch::Contains("unknown option 'bogus'"));
  CHECK(p->create(0, "threads=zero", &ctx) == AB_INVALID_ARGUMENT);
  CHECK_THAT(std::string(p->last_error(nullptr)), Catch::Contains("threads"));
  CHECK(p->create(1, "", &ctx) == AB_INVALID_ARGUMENT);
  REQUIRE(p->create(0, nullptr, &ctx) == AB_OK);
  p->destroy(ctx);
  Ctx c("threads=1");
  ab_device_info info{};
  REQUIRE(p->device_info(c.ctx, &info) == AB_OK);
  CHECK(std::strlen(info.name) > 0);
  CHECK(info.compute_units == 1);
  CHECK(info.memory_bytes > 0);
}

TEST_CASE("plugin buffers: alloc alignment, upload/download/fill, out of memory", "[cpu][plugin]") {
  Ctx c;
  ab_buffer b = nullptr;
  REQUIRE(c.p->alloc(c.ctx, 1000, &b) == AB_OK);
  CHECK(reinterpret_cast<uintptr_t>(b) % 64 == 0);
  std::vector<unsigned char> src(1000), dst(1000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7);
  CHECK(c.p->upload(c.ctx, b, src.data(), src.size()) == AB_OK);
  CHECK(c.p->download(c.ctx, dst.data(), b, dst.size()) == AB_OK);
  CHECK(src == dst);
  CHECK(c.p->fill(c.ctx, b, 0xAB, 1000) == AB_OK);
  CHECK(c.p->download(c.ctx, dst.data(), b, dst.size()) == AB_OK);
  CHECK(dst == std::vector<unsigned char>(1000, 0xAB));
  c.p->release(c.ctx, b);

  ab_buffer huge = nullptr;
  CHECK(c.p->alloc(c.ctx, size_t(1) << 60, &huge) == AB_OUT_OF_MEMORY);
  CHECK(huge == nullptr);
  CHECK_THAT(std::string(c.p->last_error(c.ctx)), Catch::Contains("alloc"));
  CHECK(c.p->alloc(c.ctx, SIZE_MAX, &huge) == AB_OUT_OF_MEMORY);
}

TEST_CASE("plugin supports: capability reasons and invalid shapes", "[cpu][plugin]") {
  Ctx c;
  Shape s;
  s.len_q = 64; s.len_k = 64;
  Case k = make_case(s, 7);
  CHECK(c.p->supports(c.ctx, "flash", &k.args) == AB_OK);
  CHECK(c.p->supports(c.ctx, "decode", &k.args) == AB_UNSUPPORTED);
  CHECK_THAT(std::string(c.p->last_error(c.ctx)), Catch::Contains("len_q <= 16"));
  CHECK(c.p->supports(c.ctx, "sparse_magic", &k.args) == AB_UNSUPPORTED);
  CHECK_THAT(std::string(c.p->last_error(c.ctx)), Catch::Contains("sparse_magic"));
  ab_attention_args bad = k.args;
  bad.heads_q = 3; bad.heads_kv = 2;
  CHECK(c.p->supports(c.ctx, "flash", &bad) == AB_INVALID_ARGUMENT);
  CHECK_THAT(std::string(c.p->last_error(c.ctx)), Catch::Contains("heads_q % heads_kv"));
  bad = k.args; bad.head_dim = 1025;
  CHECK(c.p->supports(c.ctx, "flash", &bad) == AB_INVALID_ARGUMENT);
  bad = k.args; bad.len_q = -3;
  CHECK(c.p->supports(c.ctx, "flash", &bad) == AB_INVALID_ARGUMENT);
  CHECK_THAT(std::string(c.p->last_error(c.ctx)), Catch::Contains("negative length"));
  double sec = -1;
  CHECK(c.p->run_attention(c.ctx, "decode", &k.args, &sec) == AB_UNSUPPORTED);
}

TEST_CASE("plugin run_attention: device buffers, poisoned output, oracle match, timing", "[cpu][plugin]") {
  Ctx c;
  for (const char* variant : {"flash", "naive", "reference", "decode"}) {
    Shape s;
    s.batch = 2; s.heads_q = 8; s.heads_kv = 2; s.len_q = std::strcmp(variant, "decode") ? 70 : 3;
    s.len_k = 300; s.head_dim = 80; s.dtype = AB_BF16; s.causal = true;
    Case k = make_case(s, 11);
    // Copy the host tensors into plugin buffers, as the harness does.
    auto to_device = [&](std::vector<unsigned char>& host) {
      ab_buffer b = nullptr;
      REQUIRE(c.p->alloc(c.ctx, host.size(), &b) == AB_OK);
      REQUIRE(c.p->upload(c.ctx, b, host.data(), host.size()) == AB_OK);
      return b;
    };
    ab_attention_args a = k.args;
    a.q = to_device(k.q); a.k = to_device(k.k); a.v = to_device(k.v); a.o = to_device(k.o);
    REQUIRE(c.p->fill(c.ctx, a.o, 0xFF, k.o.size()) == AB_OK);
    double sec = -1;
    INFO(variant);
    REQUIRE(c.p->run_attention(c.ctx, variant, &a, &sec) == AB_OK);
    CHECK(sec > 0);
    CHECK(sec < 10);
    REQUIRE(c.p->download(c.ctx, k.o.data(), a.o, k.o.size()) == AB_OK);
    // Compare what came back (re-run locally into a second buffer for the oracle side).
    std::vector<float> o(k.o.size() / 2);
    decode(AB_BF16, k.o.data(), o.data(), o.size());
    ab_attention_args flat = k.args;
    std::vector<double> ref(o.size(), 0.0);
    reference_attention(flat, k.qf.data(), k.kf.data(), k.vf.data(), ref.data());
    double e2 = 0, r2 = 0;
    size_t nans = 0;
    for (size_t i = 0; i < o.size(); ++i) {
      if (std::isnan(o[i])) { ++nans; continue; }
      e2 += (o[i] - ref[i]) * (o[i] - ref[i]);
      r2 += ref[i] * ref[i];
    }
    CHECK(nans == 0);
    CHECK(std::sqrt(e2 / r2) < 1e-2);
    for (ab_buffer b : {a.q, a.k, a.v, a.o}) c.p->release(c.ctx, b);
  }
}

TEST_CASE("plugin measure_peaks: positive FLOP/s and bandwidth, a bf16 peak where the level has VDPBF16PS",
          "[cpu][plugin]") {
  Ctx c;
  ab_peaks peaks{};
  REQUIRE(c.p->measure_peaks(c.ctx, &peaks) == AB_OK);
  CHECK(peaks.flops_f32 > 1e9);
  CHECK(peaks.bytes_per_second > 1e9);
  ab_device_info info{};
  REQUIRE(c.p->device_info(c.ctx, &info) == AB_OK);
  const std::string driver = info.driver;
  INFO("driver: " << driver << ", bf16 " << peaks.flops_bf16 << ", f16 " << peaks.flops_f16);
  // The level the plugin runs (named in the driver string) decides the bf16 peak.
  const bool bf16_level = driver.find("isa=avx512bf16") != std::string::npos;
  CHECK(driver.find("isa=") != std::string::npos);
  if (bf16_level) CHECK(peaks.flops_bf16 > peaks.flops_f32);  // 2 products per lane per instruction
  else CHECK(peaks.flops_bf16 == 0);
  CHECK(peaks.flops_f16 >= 0);
}
