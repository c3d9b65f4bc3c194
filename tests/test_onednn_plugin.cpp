// The oneDNN peer backend through its plugin ABI, as the harness loader sees it: dlopen
// libattnbench-backend-onednn.so from the peer plugin folder, check the table, options,
// outputs against the fp64 oracle (causal and not, GQA/MQA, fp32 and bf16, decode, varlen,
// windows, softcap, head_dim_v), the reasons of unsupported cases, and the peaks.
// Exits 77 (skipped) where the plugin was not built (no libdnnl-dev).
#include <catch2/catch.hpp>
#include <dlfcn.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "attnbench/dtype.h"
#include "attnbench/plugin_abi.h"
#include "reference_attention.h"

using namespace attnbench;

namespace {

const ab_plugin* load_plugin() {
  static const ab_plugin* plugin = []() -> const ab_plugin* {
#ifndef ATTNBENCH_ONEDNN_BUILT
    std::exit(77);  // CMake found no oneDNN: the plugin is not part of this build
#endif
    const std::string path = std::string(ATTNBENCH_PEER_PLUGIN_DIR) + "/libattnbench-backend-onednn.so";
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      FAIL("cannot dlopen " << path << ": " << dlerror() << " (build attnbench-backend-onednn first)");
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

/// A context on the one device, destroyed at scope exit.
struct Ctx {
  const ab_plugin* p;
  void* ctx = nullptr;
  explicit Ctx(const char* options = "threads=2") : p(load_plugin()) { REQUIRE(p->create(0, options, &ctx) == AB_OK); }
  ~Ctx() { if (ctx) p->destroy(ctx); }
  std::string error() const { return p->last_error(ctx); }
};

/// Shape and options of one case.
struct Shape {
  int batch = 1, heads_q = 1, heads_kv = 1, len_q = 1, len_k = 1, head_dim = 64, head_dim_v = 0;
  ab_dtype dtype = AB_F32;
  int causal = 0, window_left = -1, window_right = -1;
  float softcap = 0;
  std::vector<int32_t> seq_len_q, seq_len_k;
};

std::string describe(const Shape& s) {
  std::string r = std::string(dtype_name(s.dtype)) + " B" + std::to_string(s.batch) + " Hq" + std::to_string(s.heads_q) +
                  " Hkv" + std::to_string(s.heads_kv) + " Lq" + std::to_string(s.len_q) + " Lk" +
                  std::to_string(s.len_k) + " d" + std::to_string(s.head_dim);
  if (s.head_dim_v) r += " dv" + std::to_string(s.head_dim_v);
  if (s.causal) r += " causal";
  if (s.window_left >= 0 || s.window_right >= 0)
    r += " window(" + std::to_string(s.window_left) + "," + std::to_string(s.window_right) + ")";
  if (s.softcap > 0) r += " softcap";
  if (!s.seq_len_q.empty()) r += " varlen";
  return r;
}

/// Stores fp32 values in type t; returns the bytes and replaces vals by the stored values.
std::vector<unsigned char> store(ab_dtype t, std::vector<float>& vals) {
  std::vector<unsigned char> bytes(vals.size() * dtype_size(t) + 1);
  encode(t, vals.data(), bytes.data(), vals.size());
  decode(t, bytes.data(), vals.data(), vals.size());
  return bytes;
}

struct Result {
  ab_status status = AB_OK;
  std::string error;
  double rel_l2 = 0;
  size_t nan_rows = 0;       // valid rows holding NaN (unwritten)
  size_t clobbered_pad = 0;  // varlen padding rows that were written
};

/// Runs `variant` on a random case through the plugin (O poisoned with NaN bytes) and
/// compares the valid rows with the fp64 oracle. dv < d is checked against the oracle
/// on V padded with zero columns to d (the first dv output columns are the same).
Result run_case(Ctx& c, const char* variant, const Shape& s, unsigned seed = 1) {
  const int d = s.head_dim, dv = s.head_dim_v ? s.head_dim_v : d;
  const size_t nq = static_cast<size_t>(s.batch) * s.heads_q * s.len_q;
  const size_t nkv = static_cast<size_t>(s.batch) * s.heads_kv * s.len_k;
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> qf(nq * d), kf(nkv * d), vf(nkv * dv);
  for (float& x : qf) x = 1.5f * g(rng);  // peaky softmaxes
  for (float& x : kf) x = g(rng);
  for (float& x : vf) x = g(rng);
  auto qb = store(s.dtype, qf), kb = store(s.dtype, kf), vb = store(s.dtype, vf);
  const size_t o_bytes = nq * dv * dtype_size(s.dtype);

  ab_attention_args a{};
  a.batch = s.batch; a.heads_q = s.heads_q; a.heads_kv = s.heads_kv; a.len_q = s.len_q; a.len_k = s.len_k;
  a.head_dim = d; a.head_dim_v = s.head_dim_v; a.dtype = s.dtype; a.causal = s.causal;
  a.window_left = s.window_left; a.window_right = s.window_right; a.softcap = s.softcap;
  a.scale = 1.0f / std::sqrt(static_cast<float>(d));
  a.seq_len_q = s.seq_len_q.empty() ? nullptr : s.seq_len_q.data();
  a.seq_len_k = s.seq_len_k.empty() ? nullptr : s.seq_len_k.data();

  Result res;
  if ((res.status = c.p->supports(c.ctx, variant, &a)) != AB_OK) { res.error = c.error(); return res; }
  ab_buffer bq{}, bk{}, bv{}, bo{};
  REQUIRE(c.p->alloc(c.ctx, qb.size(), &bq) == AB_OK);
  REQUIRE(c.p->alloc(c.ctx, kb.size(), &bk) == AB_OK);
  REQUIRE(c.p->alloc(c.ctx, vb.size(), &bv) == AB_OK);
  REQUIRE(c.p->alloc(c.ctx, o_bytes + 1, &bo) == AB_OK);
  REQUIRE(c.p->upload(c.ctx, bq, qb.data(), qb.size()) == AB_OK);
  REQUIRE(c.p->upload(c.ctx, bk, kb.data(), kb.size()) == AB_OK);
  REQUIRE(c.p->upload(c.ctx, bv, vb.data(), vb.size()) == AB_OK);
  REQUIRE(c.p->fill(c.ctx, bo, 0xFF, o_bytes) == AB_OK);  // NaN in every type
  a.q = bq; a.k = bk; a.v = bv; a.o = bo;
  double seconds = -1;
  res.status = c.p->run_attention(c.ctx, variant, &a, &seconds);
  std::vector<unsigned char> ob(o_bytes + 1);
  REQUIRE(c.p->download(c.ctx, ob.data(), bo, o_bytes) == AB_OK);
  for (ab_buffer b : {bq, bk, bv, bo}) c.p->release(c.ctx, b);
  if (res.status != AB_OK) { res.error = c.error(); return res; }
  CHECK(seconds >= 0);

  std::vector<float> vpad(nkv * d, 0.0f);  // V widened to d columns for the oracle
  for (size_t r = 0; r < nkv; ++r) std::copy_n(vf.begin() + r * dv, dv, vpad.begin() + r * d);
  ab_attention_args oracle = a;
  oracle.head_dim_v = 0;
  std::vector<double> ref(nq * d + 1, 0.0);
  if (nq) reference_attention(oracle, qf.data(), kf.data(), vpad.data(), ref.data());
  std::vector<float> o(nq * dv + 1);
  decode(s.dtype, ob.data(), o.data(), nq * dv);
  double err2 = 0, ref2 = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads_q; ++h)
      for (int i = 0; i < s.len_q; ++i) {
        const size_t row = (static_cast<size_t>(b) * s.heads_q + h) * s.len_q + i;
        const bool valid = s.seq_len_q.empty() || i < s.seq_len_q[b];
        bool nan = false, all_nan = true;
        for (int t = 0; t < dv; ++t) {
          const double x = o[row * dv + t], r = ref[row * d + t];
          nan |= std::isnan(x);
          all_nan &= std::isnan(x);
          if (valid && !std::isnan(x)) { err2 += (x - r) * (x - r); ref2 += r * r; }
        }
        if (valid) res.nan_rows += nan;
        else res.clobbered_pad += !all_nan;
      }
  res.rel_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  return res;
}

/// Error bound of a storage type (relative L2 vs fp64): fp32 1e-5, 16-bit 1e-2.
double tolerance(ab_dtype t) { return t == AB_F32 ? 1e-5 : 1e-2; }

void check_close(Ctx& c, const char* variant, const Shape& s) {
  INFO(variant << " " << describe(s));
  const Result r = run_case(c, variant, s);
  INFO(r.error);
  REQUIRE(r.status == AB_OK);
  CHECK(r.nan_rows == 0);
  CHECK(r.clobbered_pad == 0);
  CHECK(r.rel_l2 < tolerance(s.dtype));
}

}  // namespace

TEST_CASE("onednn plugin table: version, size, name, variants, no KV primitives", "[onednn][plugin]") {
  const ab_plugin* p = load_plugin();
  REQUIRE(p != nullptr);
  CHECK(p->api_version == ATTNBENCH_PLUGIN_API_VERSION);
  CHECK(p->struct_size == sizeof(ab_plugin));
  CHECK(std::string(p->name) == "onednn");
  std::vector<std::string> names;
  for (const char* const* v = p->variants; *v; ++v) names.push_back(*v);
  CHECK(names == std::vector<std::string>{"flash", "decode"});
  CHECK(p->kv == nullptr);
  CHECK(p->run_backward == nullptr);
  CHECK(p->device_count() == 1);
}

TEST_CASE("onednn create: options parsed, unknown ones refused with a reason", "[onednn][plugin]") {
  const ab_plugin* p = load_plugin();
  void* ctx = nullptr;
  CHECK(p->create(0, "bogus=1", &ctx) == AB_INVALID_ARGUMENT);
  CHECK(ctx == nullptr);
  CHECK_THAT(std::string(p->last_error(nullptr)), Catch::Contains("unknown option 'bogus'"));
  CHECK(p->create(0, "threads=0", &ctx) == AB_INVALID_ARGUMENT);
  CHECK_THAT(std::string(p->last_error(nullptr)), Catch::Contains("threads"));
  CHECK(p->create(0, "block_rows=x", &ctx) == AB_INVALID_ARGUMENT);
  CHECK(p->create(1, "", &ctx) == AB_INVALID_ARGUMENT);
  REQUIRE(p->create(0, nullptr, &ctx) == AB_OK);
  p->destroy(ctx);
  Ctx c("threads=1,block_rows=32");
  ab_device_info info{};
  REQUIRE(p->device_info(c.ctx, &info) == AB_OK);
  CHECK(std::strlen(info.name) > 0);
  CHECK_THAT(std::string(info.driver), Catch::StartsWith("oneDNN "));
  CHECK(info.compute_units == 1);
}

TEST_CASE("onednn flash matches the fp64 oracle: causal and not, GQA, fp32 and bf16", "[onednn][oracle]") {
  Ctx c;
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (int causal : {0, 1})
      for (auto [hq, hkv] : {std::pair{2, 2}, std::pair{8, 2}, std::pair{4, 1}})
        for (auto [lq, lk] : {std::pair{67, 67}, std::pair{130, 130}, std::pair{37, 150}, std::pair{150, 37}}) {
          Shape s;
          s.batch = 2; s.heads_q = hq; s.heads_kv = hkv; s.len_q = lq; s.len_k = lk; s.head_dim = 64;
          s.dtype = t; s.causal = causal;
          check_close(c, "flash", s);
        }
}

TEST_CASE("onednn blocks of rows: one head split into blocks, heads merged, d=128", "[onednn][oracle]") {
  // block_rows=16 splits every head into blocks (masks differ per block); with len_q=5
  // three heads share a block (the merged path), and 67 rows leave a partial last block.
  Ctx c("threads=2,block_rows=16");
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (int causal : {0, 1})
      for (auto [lq, lk] : {std::pair{67, 67}, std::pair{5, 40}, std::pair{16, 16}, std::pair{67, 200}}) {
        Shape s;
        s.heads_q = 6; s.heads_kv = 2; s.len_q = lq; s.len_k = lk; s.head_dim = 128;
        s.dtype = t; s.causal = causal;
        check_close(c, "flash", s);
      }
}

TEST_CASE("onednn decode: len_q 1..16 over a long cache, GQA", "[onednn][oracle]") {
  Ctx c;
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (int lq : {1, 4, 16}) {
      Shape s;
      s.batch = 2; s.heads_q = 8; s.heads_kv = 2; s.len_q = lq; s.len_k = 1000; s.head_dim = 128;
      s.dtype = t; s.causal = lq > 1;
      check_close(c, "decode", s);
    }
}

TEST_CASE("onednn masks and options: window, softcap, varlen, head_dim_v, empty rows", "[onednn][oracle]") {
  Ctx c("threads=2,block_rows=32");
  for (ab_dtype t : {AB_F32, AB_BF16}) {
    Shape s;
    s.batch = 2; s.heads_q = 4; s.heads_kv = 2; s.len_q = 100; s.len_k = 100; s.head_dim = 32; s.dtype = t;
    s.causal = 1; s.window_left = 20; s.window_right = 0;
    check_close(c, "flash", s);
    s.causal = 0; s.window_left = 7; s.window_right = 9;
    check_close(c, "flash", s);
    s.window_left = s.window_right = -1;
    s.softcap = 5.0f;
    check_close(c, "flash", s);
    s.softcap = 0;
    s.causal = 1;
    s.seq_len_q = {100, 41}; s.seq_len_k = {77, 100};  // padding rows must stay poisoned
    check_close(c, "flash", s);
    s.seq_len_q = {0, 3}; s.seq_len_k = {0, 0};        // no keys at all: O = 0
    check_close(c, "flash", s);
    s.seq_len_q.clear(); s.seq_len_k.clear();
    s.head_dim = 64; s.head_dim_v = 32;
    check_close(c, "flash", s);
    s.head_dim_v = 0;
    s.len_k = 0;                                       // every row sees no key
    check_close(c, "flash", s);
  }
}

TEST_CASE("onednn unsupported cases carry reasons", "[onednn][capabilities]") {
  Ctx c;
  ab_attention_args a{};
  a.batch = 1; a.heads_q = 4; a.heads_kv = 2; a.len_q = 64; a.len_k = 64; a.head_dim = 64;
  a.dtype = AB_F32; a.window_left = a.window_right = -1; a.scale = 0.125f;
  REQUIRE(c.p->supports(c.ctx, "flash", &a) == AB_OK);
  auto refused = [&](const char* variant, const ab_attention_args& args, ab_status want, const char* why) {
    INFO(variant);
    CHECK(c.p->supports(c.ctx, variant, &args) == want);
    CHECK_THAT(c.error(), Catch::Contains(why));
  };
  refused("naive", a, AB_UNSUPPORTED, "no variant 'naive'");
  refused("flash:block=4", a, AB_UNSUPPORTED, "take no options");
  refused("decode", a, AB_UNSUPPORTED, "decode handles len_q <= 16");
  ab_attention_args paged = a;
  paged.page_size = 16; paged.num_pages = 8; paged.max_pages_per_seq = 4;
  refused("flash", paged, AB_UNSUPPORTED, "no paged KV");
  ab_attention_args lse = a;
  lse.lse = reinterpret_cast<ab_buffer>(&lse);  // any non-NULL handle asks for lse
  refused("flash", lse, AB_UNSUPPORTED, "no lse");
  ab_attention_args bad = a;
  bad.heads_q = 3;
  refused("flash", bad, AB_INVALID_ARGUMENT, "multiple of heads_kv");
  // fp16: oneDNN either has an f16 matmul on this CPU (then it must be right) or says so.
  ab_attention_args f16 = a;
  f16.dtype = AB_F16;
  if (c.p->supports(c.ctx, "flash", &f16) == AB_OK) {
    Shape s;
    s.heads_q = 4; s.heads_kv = 2; s.len_q = 64; s.len_k = 64; s.dtype = AB_F16; s.causal = 1;
    check_close(c, "flash", s);
  } else {
    CHECK_THAT(c.error(), Catch::Contains("fp16"));
  }
  // A refused run leaves its reason too.
  double seconds = 0;
  CHECK(c.p->run_attention(c.ctx, "naive", &a, &seconds) == AB_UNSUPPORTED);
  CHECK_THAT(c.error(), Catch::Contains("naive"));
}

TEST_CASE("onednn peaks: GEMM rate per dtype and read bandwidth", "[onednn][peaks]") {
  Ctx c;
  ab_peaks peaks{};
  REQUIRE(c.p->measure_peaks(c.ctx, &peaks) == AB_OK);
  // Loose sanity bounds: a real measurement on any CPU, not a constant.
  CHECK(peaks.flops_f32 > 1e9);
  CHECK(peaks.flops_f32 < 1e14);
  // Each 16-bit type in its own slot where oneDNN has its matmul here (bf16 from AVX-512
  // on, fp16 with AVX512-FP16 or AMX-FP16), else 0.
  for (auto [t, rate] : {std::pair{AB_BF16, peaks.flops_bf16}, std::pair{AB_F16, peaks.flops_f16}}) {
    ab_attention_args a{};
    a.batch = 1; a.heads_q = a.heads_kv = 1; a.len_q = a.len_k = 16; a.head_dim = 16;
    a.dtype = t; a.window_left = a.window_right = -1; a.scale = 0.25f;
    INFO(dtype_name(t));
    if (c.p->supports(c.ctx, "flash", &a) == AB_OK) CHECK(rate > 1e9);
    else CHECK(rate == 0);
  }
  CHECK(peaks.bytes_per_second > 1e8);
  CHECK(peaks.bytes_per_second < 1e13);
}
