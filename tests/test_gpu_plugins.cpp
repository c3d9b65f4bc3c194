// The CUDA and HIP plugins as the harness sees them: dlopen from <bin>/plugins, check
// the ABI table, then (with a device) run the correctness patterns against the fp64
// oracle and every KV primitive against the CPU plugin's (fp64 references where the CPU
// plugin lacks one). Without any GPU device the test exits 77 so ctest reports it as skipped.
#include <catch2/catch.hpp>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "attnbench/dtype.h"
#include "attnbench/plugin_abi.h"
#include "reference_attention.h"
#include "test_backward_case.h"
#include "test_gpu_kv_cases.h"
#include "test_gpu_kv_reference.h"

using namespace attnbench;

namespace {

constexpr int kSkip = 77;

struct Loaded {
  std::string name;
  const ab_plugin* p = nullptr;
  int devices = 0;
};

/// Loads every built GPU plugin; problems (a plugin that exists but is broken) are
/// collected rather than thrown so a no-device machine can still fail on them.
std::vector<Loaded> load_gpu_plugins(std::string& problems) {
  std::vector<Loaded> out;
  for (const char* name : {"cuda", "hip"}) {
    const std::string path = std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-" + name + ".so";
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) continue;  // its compiler was not found: not built
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) { problems += std::string(name) + ": dlopen: " + dlerror() + "\n"; continue; }
    auto entry = reinterpret_cast<ab_plugin_entry_fn>(dlsym(h, ATTNBENCH_PLUGIN_ENTRY));
    if (!entry) { problems += std::string(name) + ": no entry point\n"; continue; }
    const ab_plugin* p = entry();
    if (!p || p->api_version != ATTNBENCH_PLUGIN_API_VERSION || p->struct_size != sizeof(ab_plugin) ||
        std::string(p->name) != name) {
      problems += std::string(name) + ": bad plugin table\n";
      continue;
    }
    // The KV primitives are declared on every machine (a GPU-less run stores no_device).
    const ab_kv_ops* kv = p->kv;
    if (!kv || kv->struct_size != sizeof(ab_kv_ops) || !kv->observation_scores || !kv->statistics || !kv->topk ||
        !kv->dot || !kv->compact || !kv->quant_bytes || !kv->quantize || !kv->quant_decode || !p->memory_info)
      problems += std::string(name) + ": KV primitives or memory_info missing from the table\n";
    if (!p->run_backward) problems += std::string(name) + ": run_backward missing from the table\n";
    Loaded l{name, p, p->device_count()};
    if (l.devices < 0) problems += std::string(name) + ": negative device_count\n";
    if (l.devices == 0) {
      // The no-device contract: create fails with AB_NO_DEVICE and says why.
      void* ctx = reinterpret_cast<void*>(1);
      if (p->create(0, "", &ctx) != AB_NO_DEVICE || ctx != nullptr || !*p->last_error(nullptr))
        problems += std::string(name) + ": create without a device must return AB_NO_DEVICE\n";
    }
    out.push_back(l);
  }
  return out;
}

/// Exits 77 (skipped) when no GPU plugin has a device and nothing is broken.
std::vector<Loaded> plugins_or_skip() {
  std::string problems;
  auto plugins = load_gpu_plugins(problems);
  int devices = 0;
  for (const auto& l : plugins) devices += l.devices;
  if (problems.empty() && devices == 0) {
    std::printf("no GPU device (%zu GPU plugin(s) loaded): skipping\n", plugins.size());
    std::exit(kSkip);
  }
  INFO(problems);
  REQUIRE(problems.empty());
  return plugins;
}

struct Case {
  const char* variant;
  ab_dtype dtype;
  int b, hq, hkv, lq, lk, d, causal, wl = -1, wr = -1;
  float softcap = 0;
  bool varlen = false;
  int page = 0;
  int layout = AB_KV_HND;  // paged pool layout (ab_kv_layout)
  bool nan_pad = false;    // varlen: K/V rows past seq_len_k are NaN (never to be read)
  float q_scale = 1.0f;    // Q multiplier: 30 makes logit outliers (std ~30, near one-hot rows)
};

std::string describe(const Case& c) {
  char s[256];
  std::snprintf(s, sizeof s, "%s %s b%d hq%d hkv%d lq%d lk%d d%d causal%d win(%d,%d) cap%g varlen%d page%d%s%s qx%g",
                c.variant, dtype_name(c.dtype), c.b, c.hq, c.hkv, c.lq, c.lk, c.d, c.causal, c.wl, c.wr,
                c.softcap, c.varlen, c.page, c.layout == AB_KV_NHD ? " nhd" : "", c.nan_pad ? " nan-pad" : "",
                c.q_scale);
  return s;
}

/// Uploads n floats as `t` storage into a new device buffer.
ab_buffer upload_as(const ab_plugin* p, void* ctx, ab_dtype t, const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * dtype_size(t));
  encode(t, v.data(), bytes.data(), v.size());
  ab_buffer buf = nullptr;
  REQUIRE(p->alloc(ctx, bytes.size(), &buf) == AB_OK);
  REQUIRE(p->upload(ctx, buf, bytes.data(), bytes.size()) == AB_OK);
  return buf;
}

/// Values as the device sees them (rounded to the storage type).
std::vector<float> rounded(ab_dtype t, std::vector<float> v) {
  std::vector<uint8_t> bytes(v.size() * dtype_size(t));
  encode(t, v.data(), bytes.data(), v.size());
  decode(t, bytes.data(), v.data(), v.size());
  return v;
}

/// Unit in the last place of a value of magnitude |x| stored as `t` (bf16: 8 significant
/// bits, fp16: 11 and subnormals below 2^-14; f32: 24). A zero row uses the smallest
/// normal's ulp, so any nonzero output there fails.
double ulp_of(ab_dtype t, double x) {
  const int mant = t == AB_BF16 ? 8 : t == AB_F16 ? 11 : 24;
  const int min_exp = t == AB_F16 ? -14 : -126;  // exponent of the smallest normal
  x = std::abs(x);
  int e = min_exp;
  if (x > 0 && std::isfinite(x)) {
    std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1): floor(log2 x) = e - 1
    e = std::max(e - 1, min_exp);
  }
  return std::ldexp(1.0, e - (mant - 1));
}

/// 16-bit outputs are judged per row in ulps of the storage type at the row's largest
/// |o_ref| (max over the row of |o - o_ref| / ulp(max |o_ref|)): a flat absolute bound is
/// ~5 ulps for bf16 but ~40 for fp16 at |o| ~ 0.3, and meaningless for small or large |o|.
/// Budget (k): rounding O to storage is 0.5 ulp; flash's MMA path also rounds P to
/// storage before P V (relative 2^-8 bf16, 2^-11 fp16 per probability: about 2 ulps of
/// max|o| at worst over these shapes), SIMT and decode accumulate in fp32. naive stores S
/// and P in the storage type as well (S rounding scales with |logit|), so it gets twice
/// the budget and is kept out of the logit-outlier cases for 16-bit types.
constexpr double kUlpsFused = 4.0;  // flash (MMA and SIMT), decode
constexpr double kUlpsNaive = 8.0;  // naive (S and P materialised in the storage type)

/// The bound run_case's error is held to: f32 absolute (relative above 1) 1e-5, 16-bit
/// types in ulps (above).
double tolerance(const Case& c) {
  if (c.dtype == AB_F32) return 1e-5;
  return std::string(c.variant) == "naive" ? kUlpsNaive : kUlpsFused;
}

/// Runs one case on one plugin context and returns its error against the oracle: f32 the
/// max abs error (relative once |ref| > 1), 16-bit types the max over rows of the row's
/// max abs error in ulps of its largest |ref| (ulp_of). NaN, e.g. an unwritten poisoned
/// row, counts as a huge error.
double run_case(const ab_plugin* p, void* ctx, const Case& c, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto gen = [&](size_t n) { std::vector<float> v(n); for (float& x : v) x = dist(rng); return rounded(c.dtype, v); };
  ab_attention_args a{};
  a.batch = c.b; a.heads_q = c.hq; a.heads_kv = c.hkv; a.len_q = c.lq; a.len_k = c.lk; a.head_dim = c.d;
  a.dtype = c.dtype; a.causal = c.causal; a.window_left = c.wl; a.window_right = c.wr;
  a.scale = 1.0f / std::sqrt(float(c.d)); a.softcap = c.softcap;
  std::vector<int32_t> lq(c.b), lk(c.b);
  for (int b = 0; b < c.b; ++b) { lq[b] = std::max(1, c.lq - 3 * b); lk[b] = std::max(1, c.lk - 5 * b); }
  if (c.varlen) { a.seq_len_q = lq.data(); a.seq_len_k = lk.data(); }
  std::vector<float> q = gen(size_t(c.b) * c.hq * c.lq * c.d);
  if (c.q_scale != 1.0f) {  // scaled before rounding, so the oracle sees what the device reads
    for (float& x : q) x *= c.q_scale;
    q = rounded(c.dtype, q);
  }
  auto k = gen(size_t(c.b) * c.hkv * c.lk * c.d), v = gen(k.size());
  if (c.varlen && c.nan_pad)  // padding the ABI says is never read: NaN shows any read in O
    for (int b = 0; b < c.b; ++b)
      for (int h = 0; h < c.hkv; ++h)
        for (int j = lk[b]; j < c.lk; ++j)
          for (int e = 0; e < c.d; ++e) k[((size_t(b) * c.hkv + h) * c.lk + j) * c.d + e] = v[((size_t(b) * c.hkv + h) * c.lk + j) * c.d + e] = NAN;
  std::vector<double> ref(q.size(), 0.0);
  reference_attention(a, q.data(), k.data(), v.data(), ref.data());

  std::vector<ab_buffer> bufs;
  if (c.page > 0) {  // scatter into a reversed page pool so the block table matters
    const int per_seq = (c.lk + c.page - 1) / c.page, pages = c.b * per_seq;
    std::vector<int32_t> table(pages);
    for (int i = 0; i < pages; ++i) table[i] = pages - 1 - i;
    std::vector<float> kp(size_t(pages) * c.hkv * c.page * c.d, 0.0f), vp(kp.size(), 0.0f);
    for (int b = 0; b < c.b; ++b)
      for (int h = 0; h < c.hkv; ++h)
        for (int j = 0; j < c.lk; ++j) {
          const int page = table[b * per_seq + j / c.page];
          const size_t dst = c.layout == AB_KV_NHD ? ((size_t(page) * c.page + j % c.page) * c.hkv + h) * c.d
                                                   : ((size_t(page) * c.hkv + h) * c.page + j % c.page) * c.d;
          const size_t src = ((size_t(b) * c.hkv + h) * c.lk + j) * c.d;
          for (int e = 0; e < c.d; ++e) { kp[dst + e] = k[src + e]; vp[dst + e] = v[src + e]; }
        }
    a.page_size = c.page; a.max_pages_per_seq = per_seq; a.num_pages = pages; a.kv_layout = c.layout;
    REQUIRE(p->alloc(ctx, table.size() * 4, &a.block_table) == AB_OK);
    REQUIRE(p->upload(ctx, a.block_table, table.data(), table.size() * 4) == AB_OK);
    bufs.push_back(a.block_table);
    a.k = upload_as(p, ctx, c.dtype, kp);
    a.v = upload_as(p, ctx, c.dtype, vp);
  } else {
    a.k = upload_as(p, ctx, c.dtype, k);
    a.v = upload_as(p, ctx, c.dtype, v);
  }
  a.q = upload_as(p, ctx, c.dtype, q);
  const size_t obytes = q.size() * dtype_size(c.dtype);
  REQUIRE(p->alloc(ctx, obytes, &a.o) == AB_OK);
  REQUIRE(p->fill(ctx, a.o, 0xFF, obytes) == AB_OK);  // NaN poison: unwritten rows show up
  bufs.insert(bufs.end(), {a.q, a.k, a.v, a.o});

  INFO(describe(c));
  REQUIRE(p->supports(ctx, c.variant, &a) == AB_OK);
  double seconds = -1;
  const ab_status st = p->run_attention(ctx, c.variant, &a, &seconds);
  INFO(p->last_error(ctx));
  REQUIRE(st == AB_OK);
  REQUIRE(seconds > 0);
  std::vector<uint8_t> raw(obytes);
  REQUIRE(p->download(ctx, raw.data(), a.o, obytes) == AB_OK);
  for (ab_buffer b : bufs) p->release(ctx, b);
  std::vector<float> o(q.size());
  decode(c.dtype, raw.data(), o.data(), o.size());
  double err = 0;
  for (int b = 0; b < c.b; ++b)
    for (int h = 0; h < c.hq; ++h)
      for (int i = 0; i < effective_len_q(a, b); ++i) {
        const size_t row = ((size_t(b) * c.hq + h) * c.lq + i) * c.d;
        double row_err = 0, row_max = 0;
        for (int e = 0; e < c.d; ++e) {
          const double r = ref[row + e];
          double diff = std::abs(o[row + e] - r);
          if (c.dtype == AB_F32) diff /= std::max(1.0, std::abs(r));  // absolute, relative above 1
          row_err = std::max(row_err, std::isnan(diff) ? 1e30 : diff);
          row_max = std::max(row_max, std::abs(r));
        }
        err = std::max(err, c.dtype == AB_F32 ? row_err : row_err / ulp_of(c.dtype, row_max));
      }
  return err;
}

std::vector<Case> correctness_cases() {
  std::vector<Case> cases;
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16})
    for (int d : {64, 128})
      for (int causal : {0, 1})
        for (auto [lq, lk] : {std::pair{128, 128}, std::pair{37, 77}, std::pair{77, 37}, std::pair{200, 333}})
          for (int hkv : {8, 2, 1})  // GQA group 1, 4, Hq (MQA)
            cases.push_back({"flash", t, 2, 8, hkv, lq, lk, d, causal});
  for (ab_dtype t : {AB_F32, AB_BF16}) {
    cases.push_back({"flash", t, 1, 4, 2, 100, 100, 64, 1, 17, 3});   // sliding window
    cases.push_back({"flash", t, 1, 4, 4, 65, 65, 128, 1, -1, -1, 20.0f});  // softcap
    cases.push_back({"flash", t, 3, 4, 2, 90, 120, 64, 1, -1, -1, 0, true});  // varlen
    cases.push_back({"flash", t, 1, 2, 1, 50, 50, 40, 0});            // d not instantiated for MMA
    for (int page : {0, 16, 64})
      for (int lq : {1, 4, 16})
        cases.push_back({"decode", t, 2, 8, 2, lq, 3000, 128, 1, -1, -1, 0, false, page});
    cases.push_back({"decode", t, 3, 4, 1, 1, 700, 64, 1, -1, -1, 0, true, 32});  // varlen paged
    cases.push_back({"decode", t, 1, 4, 4, 3, 500, 64, 0});  // no GQA packing (group 1)
    cases.push_back({"naive", t, 2, 4, 2, 37, 77, 64, 1});
    cases.push_back({"naive", t, 1, 2, 1, 40, 40, 200, 0, 9, 2, 15.0f});  // d > 128, window, softcap
    cases.push_back({"naive", t, 3, 2, 2, 30, 50, 32, 1, -1, -1, 0, true});  // varlen
    // NaN in the padded K/V rows of short sequences must not reach O (naive's P V loop).
    cases.push_back({"naive", t, 3, 2, 1, 30, 50, 32, 0, -1, -1, 0, true, 0, AB_KV_HND, true});
    cases.push_back({"flash", t, 3, 2, 1, 30, 50, 64, 0, -1, -1, 0, true, 0, AB_KV_HND, true});
    cases.push_back({"decode", t, 3, 4, 2, 2, 700, 64, 1, -1, -1, 0, true, 0, AB_KV_HND, true});
    // vLLM/FA2 page layout (NHD), GQA and varlen.
    for (int lq : {1, 4})
      cases.push_back({"decode", t, 2, 8, 2, lq, 3000, 128, 1, -1, -1, 0, false, 16, AB_KV_NHD});
    cases.push_back({"decode", t, 3, 4, 1, 1, 700, 64, 1, -1, -1, 0, true, 32, AB_KV_NHD});
    // batch * heads beyond the 65535 limit of grid.y / grid.z (folded into grid.x).
    cases.push_back({"flash", t, 1, 65600, 65600, 3, 9, 64, 1});
    cases.push_back({"flash", t, 66000, 1, 1, 2, 5, 128, 0});
    cases.push_back({"decode", t, 2, 33000, 33000, 1, 40, 64, 0});
    cases.push_back({"naive", t, 2, 33000, 11000, 2, 7, 32, 1});
    // Varlen decode with several query rows per sequence (seq_len_q 8, 5, 2), causal
    // bottom-right per sequence, contiguous and paged (both layouts).
    cases.push_back({"decode", t, 3, 8, 2, 8, 700, 64, 1, -1, -1, 0, true});
    cases.push_back({"decode", t, 3, 8, 2, 8, 700, 128, 1, -1, -1, 0, true, 32});
    cases.push_back({"decode", t, 3, 4, 1, 16, 500, 64, 1, -1, -1, 0, true, 16, AB_KV_NHD});
  }
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
    // Head dims between the instantiated tiles (SIMT DMAX 128; MMA only takes 64 and 128).
    for (int d : {80, 96}) {
      cases.push_back({"flash", t, 2, 4, 2, 77, 130, d, 1});
      cases.push_back({"flash", t, 1, 4, 1, 64, 64, d, 0, -1, -1, 0, true});
      cases.push_back({"decode", t, 2, 8, 2, 4, 1500, d, 1, -1, -1, 0, false, 16});
      cases.push_back({"naive", t, 2, 4, 2, 37, 77, d, 1});
    }
    // Logit outliers: Q x 30 makes logits with std ~30, so rows are nearly one-hot and a
    // wrong running max or rescale shows (exp overflow/underflow). naive keeps 16-bit S,
    // whose rounding at |logit| ~ 100 is a ulp of ~0.5 in the exponent: f32 only there.
    for (int d : {64, 128}) {
      cases.push_back({"flash", t, 2, 4, 2, 77, 200, d, 1, -1, -1, 0, false, 0, AB_KV_HND, false, 30.0f});
      cases.push_back({"decode", t, 2, 8, 2, 4, 1500, d, 1, -1, -1, 0, false, 16, AB_KV_HND, false, 30.0f});
    }
    cases.push_back({"flash", t, 1, 4, 4, 65, 65, 128, 1, -1, -1, 20.0f, false, 0, AB_KV_HND, false, 30.0f});
    if (t == AB_F32) cases.push_back({"naive", t, 2, 4, 2, 37, 77, 64, 1, -1, -1, 0, false, 0, AB_KV_HND, false, 30.0f});
  }
  // The MMA flash kernel's 128-row blocks, double-buffered 64-key tiles and mask-free
  // interior tiles: long causal rows (interior and diagonal tiles), a window inside long
  // rows, softcap on interior tiles, long varlen rows with NaN padding past seq_len_k,
  // len_q > len_k causal (leading rows see nothing) across a block boundary.
  for (ab_dtype t : {AB_BF16, AB_F16})
    for (int d : {64, 128}) {
      cases.push_back({"flash", t, 1, 2, 1, 1000, 1000, d, 1});
      cases.push_back({"flash", t, 1, 2, 2, 300, 700, d, 1, 150, 0});
      cases.push_back({"flash", t, 2, 2, 1, 520, 520, d, 0, -1, -1, 25.0f});
      cases.push_back({"flash", t, 3, 2, 1, 400, 600, d, 1, -1, -1, 0, true, 0, AB_KV_HND, true});
      cases.push_back({"flash", t, 1, 2, 2, 300, 140, d, 1});
    }
  // fp16 decode and naive (the loop above runs them for f32 and bf16).
  for (int page : {0, 16})
    for (int lq : {1, 4}) cases.push_back({"decode", AB_F16, 2, 8, 2, lq, 3000, 128, 1, -1, -1, 0, false, page});
  cases.push_back({"decode", AB_F16, 3, 4, 1, 1, 700, 64, 1, -1, -1, 0, true, 32});
  cases.push_back({"decode", AB_F16, 2, 8, 2, 4, 3000, 128, 1, -1, -1, 0, false, 16, AB_KV_NHD});
  cases.push_back({"decode", AB_F16, 3, 4, 2, 2, 700, 64, 1, -1, -1, 0, true, 0, AB_KV_HND, true});
  cases.push_back({"naive", AB_F16, 2, 4, 2, 37, 77, 64, 1});
  cases.push_back({"naive", AB_F16, 1, 2, 1, 40, 40, 200, 0, 9, 2, 15.0f});
  cases.push_back({"naive", AB_F16, 3, 2, 2, 30, 50, 32, 1, -1, -1, 0, true});
  cases.push_back({"naive", AB_F16, 3, 2, 1, 30, 50, 32, 0, -1, -1, 0, true, 0, AB_KV_HND, true});
  // The decode kernel (decode_attention.cuh; "path=simt" runs the same cases on the SIMT
  // body): many splits over a long cache, 64-token pages with NaN padding in both layouts,
  // rows that are not whole 16-byte vectors (bf16/fp16 d 36, fp32 d 50: the SIMT body
  // either way), and a GQA group of 32 (two row tiles of 16 rows).
  for (ab_dtype t : {AB_F32, AB_BF16, AB_F16}) {
    cases.push_back({"decode", t, 1, 8, 2, 1, 20000, 128, 1});
    for (int layout : {AB_KV_HND, AB_KV_NHD})
      cases.push_back({"decode", t, 3, 8, 2, 3, 700, 96, 1, -1, -1, 0, true, 64, layout, true});
    cases.push_back({"decode", t, 2, 8, 2, 2, 900, t == AB_F32 ? 50 : 36, 1});
    cases.push_back({"decode", t, 2, 32, 1, 1, 1500, 64, 0, -1, -1, 0, false, 32, AB_KV_NHD});
  }
  return cases;
}

}  // namespace

TEST_CASE("GPU plugins load and honour the no-device contract", "[gpu][plugins]") {
  const auto plugins = plugins_or_skip();  // exits 77 here on machines without a GPU
  for (const auto& l : plugins) {
    INFO(l.name);
    CHECK(l.devices >= 0);
    if (l.devices == 0) continue;
    void* ctx = nullptr;
    REQUIRE(l.p->create(0, "", &ctx) == AB_OK);
    ab_device_info info{};
    REQUIRE(l.p->device_info(ctx, &info) == AB_OK);
    CHECK(info.memory_bytes > 0);
    CHECK(info.compute_units > 0);
    ab_buffer huge = nullptr;
    CHECK(l.p->alloc(ctx, size_t(1) << 50, &huge) == AB_OUT_OF_MEMORY);
    l.p->destroy(ctx);
  }
}

TEST_CASE("GPU plugins match the fp64 oracle", "[gpu][correctness]") {
  const auto plugins = plugins_or_skip();
  std::mt19937 rng(2024);
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    // "path=simt" checks the portable path on CUDA too (HIP always takes it).
    for (const char* options : {"", "path=simt"}) {
      void* ctx = nullptr;
      REQUIRE(l.p->create(0, options, &ctx) == AB_OK);
      for (const Case& c : correctness_cases()) {
        const double tol = tolerance(c);
        const double err = run_case(l.p, ctx, c, rng);
        INFO(l.name << " [" << options << "] " << describe(c) << " err=" << err
                    << (c.dtype == AB_F32 ? "" : " ulps") << " tol=" << tol);
        CHECK(err < tol);
      }
      l.p->destroy(ctx);
      if (l.name == "hip") break;
    }
  }
}

TEST_CASE("GPU plugins measure peaks", "[gpu][peaks]") {
  const auto plugins = plugins_or_skip();
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    void* ctx = nullptr;
    REQUIRE(l.p->create(0, "", &ctx) == AB_OK);
    ab_device_info info{};
    REQUIRE(l.p->device_info(ctx, &info) == AB_OK);
    ab_peaks pk{};
    REQUIRE(l.p->measure_peaks(ctx, &pk) == AB_OK);
    const std::string driver = info.driver;
    INFO(l.name << " " << info.name << " (" << driver << "): fp32 " << pk.flops_f32 << " f16 " << pk.flops_f16
                << " bf16 " << pk.flops_bf16 << " B/s " << pk.bytes_per_second);
    // Plausible for any GPU these plugins run on (a kernel that did nothing, a timer in the
    // wrong unit or a wrong flop count lands outside): fp32 FMA 1-200 TFLOP/s, 16-bit
    // tensor 10-3000 TFLOP/s, read bandwidth 100 GB/s - 10 TB/s.
    CHECK(pk.flops_f32 >= 1e12);
    CHECK(pk.flops_f32 <= 2e14);
    CHECK(pk.bytes_per_second >= 1e11);
    CHECK(pk.bytes_per_second <= 1e13);
    if (pk.flops_f16 != 0) {
      CHECK(pk.flops_f16 >= 1e13);
      CHECK(pk.flops_f16 <= 3e15);
    }
    if (pk.flops_bf16 != 0) {
      CHECK(pk.flops_bf16 >= 1e13);
      CHECK(pk.flops_bf16 <= 3e15);
    }
    if (l.name == "cuda") {
      // device_info's driver string ends with the instruction behind flops_f16.
      int major = 0, minor = 0;
      const size_t cc = driver.find(" cc ");
      REQUIRE(cc != std::string::npos);
      REQUIRE(std::sscanf(driver.c_str() + cc, " cc %d.%d", &major, &minor) == 2);
      const bool wgmma = driver.find("peak_f16=wgmma") != std::string::npos;
      const bool mma = driver.find("peak_f16=mma.sync") != std::string::npos;
      if (major >= 8) {
        CHECK(pk.flops_f16 > 0);  // tensor cores on every sm_80+
        CHECK(pk.flops_bf16 == pk.flops_f16);
        CHECK(wgmma != mma);
        CHECK((!wgmma || (major == 9 && minor == 0)));
        if (major == 9 && minor == 0 && !wgmma)
          WARN("sm_90 without the sm_90a image: flops_f16 is mma.sync's, about 2/3 of the wgmma peak");
      } else {
        CHECK(pk.flops_f16 == 0);
        CHECK(driver.find("peak_f16=none") != std::string::npos);
      }
    }
    l.p->destroy(ctx);
  }
}

namespace {

/// Deterministic pseudo-random value of element i of tensor `salt` in [-2, 2) in steps of
/// 1/64: exact in bf16 and fp16, so the device and the reference read the same numbers
/// without materialising float copies of multi-GiB tensors.
inline float hashed_value(uint64_t i, uint64_t salt) {
  uint64_t x = i * 0x9E3779B97F4A7C15ull + salt * 0xD1B54A32D192ED03ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<float>((x >> 40) & 0xff) / 64.0f - 2.0f;
}

/// n elements of hashed_value(., salt) in storage type t (16-bit).
std::vector<uint16_t> hashed_tensor(ab_dtype t, size_t n, uint64_t salt) {
  std::vector<uint16_t> v(n);
  constexpr size_t kChunk = size_t(1) << 16;
  std::vector<float> buf(kChunk);
  for (size_t i0 = 0; i0 < n; i0 += kChunk) {
    const size_t m = std::min(kChunk, n - i0);
    for (size_t j = 0; j < m; ++j) buf[j] = hashed_value(i0 + j, salt);
    encode(t, buf.data(), v.data() + i0, m);
  }
  return v;
}

/// A big case: a 16-bit tensor of more than 2^31 elements (Q and O for flash, K and V for
/// decode), checked on chosen rows against an fp64 softmax (non-causal, every key).
struct LargeCase {
  const char* variant;
  int b, hq, hkv, lq, lk, d;
};

/// Bytes of device memory a large case needs (Q, K, V, O).
size_t large_bytes(const LargeCase& c) {
  return 2 * (2 * size_t(c.b) * c.hq * c.lq * c.d + 2 * size_t(c.b) * c.hkv * c.lk * c.d);
}

/// Runs `c` in bf16 and returns the worst checked row's error in ulps (as run_case).
double run_large(const ab_plugin* p, void* ctx, const LargeCase& c,
                 const std::vector<std::array<int, 3>>& rows /* (b, h, i) */) {
  const ab_dtype t = AB_BF16;
  const size_t nq = size_t(c.b) * c.hq * c.lq * c.d, nk = size_t(c.b) * c.hkv * c.lk * c.d;
  const auto q = hashed_tensor(t, nq, 1), k = hashed_tensor(t, nk, 2), v = hashed_tensor(t, nk, 3);
  ab_attention_args a{};
  a.batch = c.b; a.heads_q = c.hq; a.heads_kv = c.hkv; a.len_q = c.lq; a.len_k = c.lk; a.head_dim = c.d;
  a.dtype = t; a.window_left = -1; a.window_right = -1; a.scale = 1.0f / std::sqrt(float(c.d));
  auto put = [&](const std::vector<uint16_t>& x) {
    ab_buffer buf = nullptr;
    REQUIRE(p->alloc(ctx, x.size() * 2, &buf) == AB_OK);
    REQUIRE(p->upload(ctx, buf, x.data(), x.size() * 2) == AB_OK);
    return buf;
  };
  a.q = put(q); a.k = put(k); a.v = put(v);
  REQUIRE(p->alloc(ctx, nq * 2, &a.o) == AB_OK);
  REQUIRE(p->fill(ctx, a.o, 0xFF, nq * 2) == AB_OK);
  REQUIRE(p->supports(ctx, c.variant, &a) == AB_OK);
  double seconds = -1;
  const ab_status st = p->run_attention(ctx, c.variant, &a, &seconds);
  INFO(p->last_error(ctx));
  REQUIRE(st == AB_OK);
  std::vector<uint16_t> o(nq);
  REQUIRE(p->download(ctx, o.data(), a.o, nq * 2) == AB_OK);
  for (ab_buffer buf : {a.q, a.k, a.v, a.o}) p->release(ctx, buf);
  auto val = [&](const std::vector<uint16_t>& x, size_t i) { float f; decode(t, &x[i], &f, 1); return double(f); };
  double worst = 0;
  const int group = c.hq / c.hkv;
  for (const auto& r : rows) {
    const int b = r[0], h = r[1], i = r[2];
    const size_t qrow = ((size_t(b) * c.hq + h) * c.lq + i) * c.d;
    const size_t kbase = (size_t(b) * c.hkv + h / group) * c.lk * c.d;
    std::vector<double> logit(c.lk), acc(c.d, 0.0);
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < c.lk; ++j) {
      double dot = 0;
      for (int e = 0; e < c.d; ++e) dot += val(q, qrow + e) * val(k, kbase + size_t(j) * c.d + e);
      logit[j] = dot * a.scale;
      mx = std::max(mx, logit[j]);
    }
    for (int j = 0; j < c.lk; ++j) {
      const double w = std::exp(logit[j] - mx);
      sum += w;
      for (int e = 0; e < c.d; ++e) acc[e] += w * val(v, kbase + size_t(j) * c.d + e);
    }
    double row_err = 0, row_max = 0;
    for (int e = 0; e < c.d; ++e) {
      const double ref = acc[e] / sum, diff = std::abs(val(o, qrow + e) - ref);
      row_err = std::max(row_err, std::isnan(diff) ? 1e30 : diff);
      row_max = std::max(row_max, std::abs(ref));
    }
    const double ulps = row_err / ulp_of(t, row_max);
    INFO("row b" << b << " h" << h << " i" << i << " element offset " << qrow << ": " << ulps << " ulps");
    CHECK(ulps <= kUlpsFused);
    worst = std::max(worst, ulps);
  }
  return worst;
}

}  // namespace

TEST_CASE("GPU plugins index tensors above 2^31 elements", "[gpu][large]") {
  const auto plugins = plugins_or_skip();
  constexpr size_t k2to31 = size_t(1) << 31;
  // flash: Q and O of 64 x 262208 x 128 = 2^31 + 2^19 elements (4 GiB each in bf16), a
  // single KV head of 64 keys (MQA); head 63 crosses element 2^31 at row 258112.
  const LargeCase flash{"flash", 1, 64, 1, 262208, 64, 128};
  // decode: K and V of 8 x 2097216 x 128 = 2^31 + 2^16 elements; head 7 crosses 2^31.
  const LargeCase decode{"decode", 1, 8, 8, 1, 2097216, 128};
  REQUIRE(size_t(flash.hq) * flash.lq * flash.d > k2to31);
  REQUIRE(size_t(decode.hkv) * decode.lk * decode.d > k2to31);
  std::mt19937 rng(31);
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    for (const char* options : {"", "path=simt"}) {
      void* ctx = nullptr;
      REQUIRE(l.p->create(0, options, &ctx) == AB_OK);
      uint64_t free_b = 0, total_b = 0;
      REQUIRE(l.p->memory_info(ctx, &free_b, &total_b) == AB_OK);
      for (const LargeCase* c : {&flash, &decode}) {
        if (options[0] && c == &decode) continue;  // the decode kernel's indexing is checked without the option
        INFO(l.name << " [" << options << "] " << c->variant);
        const size_t need = large_bytes(*c) + (size_t(1) << 30);  // + scratch and split partials
        if (free_b < need) {
          WARN(l.name << ": " << c->variant << " above 2^31 elements needs " << (need >> 20) << " MiB, "
                      << (free_b >> 20) << " MiB free: skipped");
          continue;
        }
        std::vector<std::array<int, 3>> rows;
        if (c == &flash) {
          const int cross = int((k2to31 / c->d) - size_t(63) * c->lq);  // first row at or past 2^31
          rows = {{0, 0, 0}, {0, 63, cross - 1}, {0, 63, cross}, {0, 63, cross + 17}, {0, 63, c->lq - 1}};
          for (int n = 0; n < 48; ++n) rows.push_back({0, int(rng() % c->hq), int(rng() % c->lq)});
        } else {
          rows = {{0, 0, 0}, {0, 7, 0}};
        }
        const double worst = run_large(l.p, ctx, *c, rows);
        INFO("worst checked row " << worst << " ulps");
        CHECK(worst <= kUlpsFused);
      }
      l.p->destroy(ctx);
      if (l.name == "hip") break;
    }
  }
}

TEST_CASE("GPU plugins: a failed runtime call does not fail the next run", "[gpu][errors]") {
  const auto plugins = plugins_or_skip();
  std::mt19937 rng(9);
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    void* ctx = nullptr;
    REQUIRE(l.p->create(0, "", &ctx) == AB_OK);
    // A memset of a null buffer fails (invalid value) and leaves the runtime's last error
    // set, as a failed allocation in measure_peaks did; run_attention must not report it.
    CHECK(l.p->fill(ctx, nullptr, 0, 64) != AB_OK);
    INFO(l.name);
    CHECK(run_case(l.p, ctx, Case{"flash", AB_F32, 1, 2, 2, 16, 16, 64, 0}, rng) < 1e-5);
    CHECK(l.p->fill(ctx, nullptr, 0, 64) != AB_OK);
    CHECK(run_case(l.p, ctx, Case{"decode", AB_F32, 1, 4, 2, 1, 3000, 64, 1}, rng) < 1e-5);
    l.p->destroy(ctx);
  }
}

namespace {

/// The CPU plugin, the reference the GPU primitives are compared with; null if its
/// table has no KV primitives.
struct CpuReference {
  const ab_plugin* p = nullptr;
  void* ctx = nullptr;
  CpuReference() {
    const std::string path = std::string(ATTNBENCH_BIN_DIR) + "/plugins/libattnbench-backend-cpu.so";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto entry = h ? reinterpret_cast<ab_plugin_entry_fn>(dlsym(h, ATTNBENCH_PLUGIN_ENTRY)) : nullptr;
    const ab_plugin* t = entry ? entry() : nullptr;
    if (t && t->api_version >= 2 && t->struct_size >= sizeof(ab_plugin) && t->kv && t->create(0, "", &ctx) == AB_OK) p = t;
  }
  ~CpuReference() { if (p) p->destroy(ctx); }
  template <class F> bool has(F ab_kv_ops::*fn) const { return p && p->kv->*fn; }
};

}  // namespace

TEST_CASE("GPU KV primitives match the CPU plugin", "[gpu][kv]") {
  const auto plugins = plugins_or_skip();
  CpuReference cpu;
  CHECK(cpu.p != nullptr);  // the CPU plugin's KV primitives are the reference (fp64 otherwise)
  using namespace kvcase;
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    void* ctx = nullptr;
    REQUIRE(l.p->create(0, "", &ctx) == AB_OK);
    uint64_t free_b = 0, total_b = 0;
    REQUIRE(l.p->memory_info(ctx, &free_b, &total_b) == AB_OK);
    CHECK((free_b > 0 && free_b <= total_b));
    PluginRunner gpu(l.p, ctx);
    std::mt19937 rng(99);
    for (int trial = 0; trial < 40; ++trial) {
      INFO(l.name << " trial " << trial);
      std::vector<float> g, r, g2, r2;
      ScoreCase sc = ScoreCase::random(rng);
      REQUIRE(gpu.scores(sc.a, sc, g) == AB_OK);
      CHECK(gpu.seconds > 0);
      auto written = [&](size_t i) { return sc.written(i); };
      if (cpu.has(&ab_kv_ops::observation_scores)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        REQUIRE(ref.scores(sc.a, sc, r) == AB_OK);
        CHECK(max_rel_err(g, r, written) < 2e-5);
      } else {
        CHECK(max_rel_err(g, kvref::scores(sc.a), written) < 2e-5);
      }
      for (size_t i = 0; i < g.size(); ++i)
        if (!written(i)) CHECK(std::isnan(g[i]));

      const auto stat = static_cast<ab_kv_stat>(trial % 4);
      StatCase st = StatCase::random(rng, stat);
      std::vector<float> aux;
      if (stat == AB_KV_EXPECTED_LOGIT) {
        StatCase m = st;
        m.a.stat = AB_KV_QUERY_MEAN_COV;
        REQUIRE(gpu.statistics(m.a, m, {}, aux) == AB_OK);
        st.a.aux = host(aux.data());
      }
      REQUIRE(gpu.statistics(st.a, st, aux, g) == AB_OK);
      if (cpu.has(&ab_kv_ops::statistics)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        REQUIRE(ref.statistics(st.a, st, aux, r) == AB_OK);
        CHECK(max_rel_err(g, r, [](size_t) { return true; }) < 5e-5);
      } else {
        CHECK(max_rel_err(g, kvref::statistics(st.a), [](size_t) { return true; }) < 5e-5);
      }

      TopkCase tk = TopkCase::random(rng, trial % 2 == 0);
      std::vector<int32_t> gi, ri;
      REQUIRE(gpu.topk(tk.a, tk, gi) == AB_OK);
      if (cpu.has(&ab_kv_ops::topk)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        REQUIRE(ref.topk(tk.a, tk, ri) == AB_OK);
        CHECK(gi == ri);
      } else {
        CHECK(gi == kvref::topk(tk.a));
      }

      ab_kv_dot_args da{uniform(rng, 1, 3), uniform(rng, 1, 40), uniform(rng, 1, 70), uniform(rng, 1, 130), {}, {}, {}};
      const auto x = normal(size_t(da.batch) * da.m * da.dim, rng), y = normal(size_t(da.batch) * da.n * da.dim, rng);
      REQUIRE(gpu.dot(da, x, y, g) == AB_OK);
      if (cpu.has(&ab_kv_ops::dot)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        REQUIRE(ref.dot(da, x, y, r) == AB_OK);
        CHECK(max_rel_err(g, r, [](size_t) { return true; }) < 1e-5);
      } else {
        ab_kv_dot_args h = da;
        h.a = host(x.data()); h.b = host(y.data());
        CHECK(max_rel_err(g, kvref::dot(h), [](size_t) { return true; }) < 1e-5);
      }

      CompactCase cc = CompactCase::random(rng);
      REQUIRE(gpu.compact(cc.a, cc, g, g2) == AB_OK);
      auto kept = [&](size_t i) { return cc.written(i); };
      if (cpu.has(&ab_kv_ops::compact)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        REQUIRE(ref.compact(cc.a, cc, r, r2) == AB_OK);
        CHECK(max_rel_err(g, r, kept) < 1e-5);
        CHECK(max_rel_err(g2, r2, kept) < 1e-5);
      } else {
        std::vector<double> rk, rv;
        kvref::compact(cc.a, rk, rv);
        CHECK(max_rel_err(g, rk, kept) < 1e-5);
        CHECK(max_rel_err(g2, rv, kept) < 1e-5);
      }

      QuantCase qc = QuantCase::random(rng, std::vector<int>{2, 4, 8}[trial % 3]);
      size_t bytes = 0;
      REQUIRE(gpu.quant_decode(qc, g, &bytes) == AB_OK);
      if (cpu.has(&ab_kv_ops::quant_decode)) {
        PluginRunner ref(cpu.p, cpu.ctx);
        size_t cpu_bytes = 0;
        REQUIRE(ref.quant_decode(qc, r, &cpu_bytes) == AB_OK);
        CHECK(max_rel_err(g, r, [](size_t) { return true; }) < 1e-4);
      } else {
        CHECK(max_rel_err(g, kvref::quant_decode(qc.da, qc.k.data(), qc.v.data()), [](size_t) { return true; }) < 1e-4);
      }
    }
    // Bad arguments: the shared validation's message, AB_INVALID_ARGUMENT.
    ab_kv_topk_args bad{1, 4, 5, 0, 0, nullptr, nullptr};
    CHECK(l.p->kv->topk(ctx, &bad, nullptr) == AB_INVALID_ARGUMENT);
    CHECK(std::string(l.p->last_error(ctx)) == "topk: k must be in [1, n = 4] (got 5)");
    l.p->destroy(ctx);
  }
}

namespace {

/// Runs `variant`'s backward on the device for a host case (inputs uploaded in the case's
/// dtype, O rounded to it, LSE fp32; gradients poisoned with NaN bytes first) and returns
/// the relative L2 errors of dQ, dK, dV against the fp64 oracle.
std::array<double, 3> run_backward_case(const ab_plugin* p, void* ctx, const char* variant, cpu_test::BackwardCase& c) {
  const cpu_test::Shape& s = c.fwd.shape;
  std::vector<float> o(c.fwd.qf.size());
  decode(s.dtype, c.fwd.o.data(), o.data(), o.size());
  ab_backward_args g{};
  g.fwd = c.args.fwd;
  g.fwd.q = upload_as(p, ctx, s.dtype, c.fwd.qf);
  g.fwd.k = upload_as(p, ctx, s.dtype, c.fwd.kf);
  g.fwd.v = upload_as(p, ctx, s.dtype, c.fwd.vf);
  g.fwd.o = upload_as(p, ctx, s.dtype, o);
  g.fwd.lse = upload_as(p, ctx, AB_F32, c.lse);
  g.d_o = upload_as(p, ctx, s.dtype, c.dof);
  const size_t qbytes = c.fwd.qf.size() * dtype_size(s.dtype), kbytes = c.fwd.kf.size() * dtype_size(s.dtype);
  for (auto [buf, bytes] : {std::pair{&g.d_q, qbytes}, std::pair{&g.d_k, kbytes}, std::pair{&g.d_v, kbytes}}) {
    REQUIRE(p->alloc(ctx, bytes, buf) == AB_OK);
    REQUIRE(p->fill(ctx, *buf, 0xFF, bytes) == AB_OK);  // NaN poison: unwritten elements show up
  }
  double seconds = -1;
  const ab_status st = p->run_backward(ctx, variant, &g, &seconds);
  INFO(p->last_error(ctx));
  REQUIRE(st == AB_OK);
  REQUIRE(seconds > 0);
  std::vector<unsigned char> dq(qbytes), dk(kbytes), dv(kbytes);
  REQUIRE(p->download(ctx, dq.data(), g.d_q, qbytes) == AB_OK);
  REQUIRE(p->download(ctx, dk.data(), g.d_k, kbytes) == AB_OK);
  REQUIRE(p->download(ctx, dv.data(), g.d_v, kbytes) == AB_OK);
  for (ab_buffer b : {g.fwd.q, g.fwd.k, g.fwd.v, g.fwd.o, g.fwd.lse, g.d_o, g.d_q, g.d_k, g.d_v}) p->release(ctx, b);
  std::vector<double> rq(c.fwd.qf.size()), rk(c.fwd.kf.size()), rv(c.fwd.vf.size());
  reference_backward(g.fwd, c.fwd.qf.data(), c.fwd.kf.data(), c.fwd.vf.data(), c.dof.data(), rq.data(), rk.data(),
                     rv.data());
  return {cpu_test::rel_error(s.dtype, dq, rq), cpu_test::rel_error(s.dtype, dk, rk), cpu_test::rel_error(s.dtype, dv, rv)};
}

}  // namespace

TEST_CASE("GPU plugins' backward matches the fp64 gradient oracle", "[gpu][backward]") {
  const auto plugins = plugins_or_skip();
  std::vector<cpu_test::Shape> shapes = cpu_test::gpu_backward_shapes();
  // Many key blocks and query tiles, GQA 4 (dQ atomics from every key block; len_q > len_k
  // leaves the first rows without keys), and batch * heads in the thousands.
  for (ab_dtype t : {AB_F32, AB_BF16})
    for (int d : {64, 128}) {
      shapes.push_back(cpu_test::shape(8, 2, 300, 300, d, t, true));
      shapes.push_back(cpu_test::shape(8, 2, 520, 260, d, t, true));
      shapes.push_back(cpu_test::shape(8, 8, 512, 512, d, t, false));
    }
  shapes.push_back(cpu_test::shape(2048, 1024, 5, 9, 64, AB_F16, true));
  for (const auto& l : plugins) {
    if (l.devices == 0) continue;
    REQUIRE(l.p->run_backward != nullptr);
    void* ctx = nullptr;
    REQUIRE(l.p->create(0, "", &ctx) == AB_OK);
    for (const cpu_test::Shape& s : shapes)
      for (const char* variant : {"naive", "flash"}) {
        cpu_test::BackwardCase c = cpu_test::make_backward_case(s, 41u + s.len_q + s.head_dim);
        const auto e = run_backward_case(l.p, ctx, variant, c);
        INFO(l.name << " " << variant << " " << cpu_test::describe(s) << " dq " << e[0] << " dk " << e[1] << " dv "
                    << e[2]);
        CHECK(e[0] <= cpu_test::tolerance(s.dtype));
        CHECK(e[1] <= cpu_test::tolerance(s.dtype));
        CHECK(e[2] <= cpu_test::tolerance(s.dtype));
      }
    // Refusals carry the reason and touch nothing.
    cpu_test::BackwardCase c = cpu_test::make_backward_case(cpu_test::shape(2, 1, 8, 8, 64, AB_F32, true), 3);
    ab_backward_args g = c.args;
    g.fwd.softcap = 30.0f;
    double seconds = 0;
    CHECK(l.p->run_backward(ctx, "flash", &g, &seconds) == AB_UNSUPPORTED);
    CHECK_THAT(l.p->last_error(ctx), Catch::Contains("softcap"));
    g.fwd.softcap = 0.0f;
    CHECK(l.p->run_backward(ctx, "decode", &g, &seconds) == AB_UNSUPPORTED);
    l.p->destroy(ctx);
  }
}
