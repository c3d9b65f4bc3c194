// The loader refuses wrong-ABI, entry-less and broken plugins, one line each,
// without stopping the good ones; it still loads ABI v1 plugins, and the Backend wrapper
// answers for them what only v2 carries.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend.h"
#include "plugin_loader.h"
#include "reference_attention.h"

using namespace attnbench;

TEST_CASE("a plugin built for another ABI version is refused with the versions named") {
  std::string reason;
  auto p = load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-wrong-abi.so", reason);
  CHECK(p == nullptr);
  CHECK_THAT(reason, Catch::Contains("ABI version 42") && Catch::Contains("version 1") && Catch::Contains("version 2"));
  CHECK(reason.find('\n') == std::string::npos);
}

TEST_CASE("a plugin without the entry point is refused") {
  std::string reason;
  CHECK(load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-no-entry.so", reason) == nullptr);
  CHECK_THAT(reason, Catch::Contains("no entry point 'attnbench_plugin_entry'"));
}

TEST_CASE("a file that is not a shared library is refused") {
  std::string reason;
  CHECK(load_plugin(ATTNBENCH_TEST_PLUGIN_DIR "/libattnbench-backend-broken.so", reason) == nullptr);
  CHECK_THAT(reason, Catch::StartsWith("cannot open"));
  CHECK(reason.find('\n') == std::string::npos);
}

TEST_CASE("bad plugins do not stop the good ones, and duplicates are refused") {
  const PluginScan scan = scan_plugins({ATTNBENCH_TEST_PLUGIN_DIR, ATTNBENCH_BIN_DIR "/plugins", ATTNBENCH_BIN_DIR "/plugins"});
  bool has_cpu = false;
  for (const auto& p : scan.plugins) has_cpu |= p->name() == "cpu";
  CHECK(has_cpu);
  int bad = 0, dup = 0;
  for (const auto& r : scan.rejected) {
    bad += r.path.find("test-plugins") != std::string::npos;
    dup += r.reason.find("already loaded") != std::string::npos;
    CHECK_FALSE(r.reason.empty());
  }
  CHECK(bad == 3);
  CHECK(dup >= 1);
}

TEST_CASE("the CPU plugin table is complete and speaks this ABI") {
  std::string reason;
  auto p = load_plugin(ATTNBENCH_BIN_DIR "/plugins/libattnbench-backend-cpu.so", reason);
  REQUIRE(p != nullptr);
  CHECK(p->table().api_version == ATTNBENCH_PLUGIN_API_VERSION);
  CHECK(p->table().device_count() >= 1);
  bool has_flash = false;
  for (const char* const* v = p->table().variants; *v; ++v) has_flash |= std::string(*v) == "flash";
  CHECK(has_flash);
}

namespace {

/// A v2 table whose every required entry is set (to the CPU plugin's), for size checks.
ab_plugin complete_v2_table() {
  std::string why;
  static auto cpu = load_plugin(ATTNBENCH_BIN_DIR "/plugins/libattnbench-backend-cpu.so", why);
  REQUIRE(cpu != nullptr);
  ab_plugin t = cpu->table();
  t.api_version = 2;
  t.struct_size = sizeof(ab_plugin);
  t.kv = nullptr;
  return t;
}

}  // namespace

TEST_CASE("a v2 table shorter than the first v2 ab_plugin is refused; one without call_stats loads") {
  ab_plugin t = complete_v2_table();
  ab_plugin widened;
  ab_kv_ops kv;
  CHECK(check_plugin_table(&t, widened, kv).empty());
  // A table built before call_stats existed: accepted, and the entry reads as NULL even
  // where the memory after the plugin's table holds something.
  t.call_stats = [](void*, ab_call_stats*) { return AB_OK; };
  t.struct_size = ATTNBENCH_PLUGIN_V2_BASE_SIZE;
  CHECK(check_plugin_table(&t, widened, kv).empty());
  CHECK(widened.call_stats == nullptr);
  t.struct_size = sizeof(ab_plugin);
  CHECK(check_plugin_table(&t, widened, kv).empty());
  CHECK(widened.call_stats != nullptr);
  t.struct_size = ATTNBENCH_PLUGIN_V1_SIZE;  // a v1-sized table claiming v2
  const std::string reason = check_plugin_table(&t, widened, kv);
  CHECK_THAT(reason, Catch::Contains("ABI version 2") && Catch::Contains(std::to_string(ATTNBENCH_PLUGIN_V1_SIZE) + " bytes") &&
                         Catch::Contains(std::to_string(ATTNBENCH_PLUGIN_V2_BASE_SIZE)));
  CHECK(reason.find('\n') == std::string::npos);
  // A v1 table must be exactly the v1 size.
  t.api_version = 1;
  t.struct_size = sizeof(ab_plugin);
  CHECK_THAT(check_plugin_table(&t, widened, kv), Catch::Contains("ABI version 1") && Catch::Contains("expected " + std::to_string(ATTNBENCH_PLUGIN_V1_SIZE)));
}

TEST_CASE("a KV primitives table shorter than ab_kv_ops is refused, a complete one is copied") {
  ab_plugin t = complete_v2_table();
  ab_kv_ops ops{};
  ops.struct_size = offsetof(ab_kv_ops, quant_decode);
  t.kv = &ops;
  ab_plugin widened;
  ab_kv_ops kv;
  CHECK_THAT(check_plugin_table(&t, widened, kv), Catch::Contains("KV primitives table") && Catch::Contains("at least"));
  ops.struct_size = sizeof(ab_kv_ops);
  ops.topk = [](void*, const ab_kv_topk_args*, double*) { return AB_UNSUPPORTED; };
  CHECK(check_plugin_table(&t, widened, kv).empty());
  CHECK(kv.topk == ops.topk);
  CHECK(kv.compact == nullptr);
}

TEST_CASE("a v1 plugin loads, runs attention, and has no KV primitives") {
  std::string reason;
  auto p = load_plugin(ATTNBENCH_V1_PLUGIN_DIR "/libattnbench-backend-v1.so", reason);
  INFO(reason);
  REQUIRE(p != nullptr);
  CHECK(p->api_version() == 1);
  CHECK(p->name() == "v1");
  // Fields past the v1 table read as NULL, not as whatever follows it in the plugin.
  CHECK(p->table().kv == nullptr);
  CHECK(p->table().run_backward == nullptr);
  CHECK(p->table().memory_info == nullptr);

  Backend be(*p, 0, "");
  CHECK(be.api_version() == 1);
  CHECK(be.kv() == nullptr);
  CHECK_THAT(be.kv_unsupported_reason(), Catch::Contains("ABI v1") && Catch::Contains("no KV primitives"));
  CHECK(be.env().plugin == &p->table());
  CHECK(be.env().ctx == be.context());

  // One small causal GQA case against the fp64 oracle.
  const int B = 1, Hq = 4, Hkv = 2, L = 9, d = 8;
  std::vector<float> q(B * Hq * L * d), k(B * Hkv * L * d), v(k.size()), o(q.size());
  for (size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * i);
  for (size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.21f * i), v[i] = std::sin(0.11f * i + 1);
  DeviceBuffer bq(be, q.size() * 4), bk(be, k.size() * 4), bv(be, v.size() * 4), bo(be, o.size() * 4);
  be.upload(bq.get(), q.data(), q.size() * 4);
  be.upload(bk.get(), k.data(), k.size() * 4);
  be.upload(bv.get(), v.data(), v.size() * 4);
  ab_attention_args a{};
  a.batch = B, a.heads_q = Hq, a.heads_kv = Hkv, a.len_q = L, a.len_k = L, a.head_dim = d, a.dtype = AB_F32;
  a.causal = 1, a.window_left = -1, a.window_right = -1, a.scale = 1.0f / std::sqrt(float(d));
  a.q = bq.get(), a.k = bk.get(), a.v = bv.get(), a.o = bo.get();
  REQUIRE(be.unsupported_reason("naive", a).empty());
  CHECK(be.run("naive", a) >= 0);
  be.download(o.data(), bo.get(), o.size() * 4);
  std::vector<double> ref(o.size());
  reference_attention(a, q.data(), k.data(), v.data(), ref.data());
  double worst = 0;
  for (size_t i = 0; i < o.size(); ++i) worst = std::max(worst, std::abs(o[i] - ref[i]));
  CHECK(worst < 1e-5);

  SECTION("v2-only requests are answered unsupported without calling the plugin") {
    // The v1 plugin reads only the v1 prefix, so it would accept these and compute the
    // wrong thing; the wrapper must refuse them itself.
    ab_attention_args mla = a;
    mla.head_dim_v = d / 2;
    CHECK_THAT(be.unsupported_reason("naive", mla), Catch::Contains("ABI v1") && Catch::Contains("head_dim_v"));
    try {
      be.run("naive", mla);
      FAIL("run accepted head_dim_v on a v1 plugin");
    } catch (const BackendError& e) {
      CHECK(e.status() == AB_UNSUPPORTED);
    }
    ab_attention_args same = a;
    same.head_dim_v = d;  // equal to head_dim: a v1 plugin computes exactly that
    CHECK(be.unsupported_reason("naive", same).empty());
    ab_attention_args with_lse = a;
    DeviceBuffer blse(be, B * Hq * L * 4);
    with_lse.lse = blse.get();
    CHECK_THAT(be.unsupported_reason("naive", with_lse), Catch::Contains("ABI v1") && Catch::Contains("lse"));
    CHECK_THAT(be.backward_unsupported_reason(), Catch::Contains("ABI v1") && Catch::Contains("backward"));
    ab_backward_args bwd{};
    bwd.fwd = a;
    try {
      be.run_backward("naive", bwd);
      FAIL("run_backward called a v1 plugin");
    } catch (const BackendError& e) {
      CHECK(e.status() == AB_UNSUPPORTED);
    }
  }
}
