#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "kv_internal.h"

namespace attnbench::kv {

double KvParams::get(const std::string& key, double def) const {
  auto it = values.find(key);
  return it == values.end() ? def : it->second;
}

KvParams parse_kv_config(std::string_view s) {
  KvParams p;
  const auto colon = s.find(':');
  p.name = std::string(s.substr(0, colon));
  if (p.name.empty()) throw std::invalid_argument("kv: empty method name in '" + std::string(s) + "'");
  if (colon == std::string_view::npos) return p;
  std::string_view rest = s.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) throw std::invalid_argument("kv: expected key=value, got '" + std::string(item) + "'");
    const std::string val(item.substr(eq + 1));
    char* end = nullptr;
    const double x = std::strtod(val.c_str(), &end);
    if (val.empty() || *end) throw std::invalid_argument("kv: not a number: '" + val + "'");
    p.values[std::string(item.substr(0, eq))] = x;
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return p;
}

std::vector<CompressedCache> KvMethod::compress_layers(std::span<const KvInput> layers) const {
  std::vector<CompressedCache> out;
  for (const auto& l : layers) out.push_back(compress(l));
  return out;
}

std::unique_ptr<KvMethod> make_kv_method(std::string_view config) {
  using namespace detail;
  const KvParams p = parse_kv_config(config);
  static const std::map<std::string, std::unique_ptr<KvMethod> (*)(const KvParams&)> table = {
      {"full", make_full}, {"streaming", make_streaming}, {"h2o", make_h2o}, {"a2sf", make_a2sf},
      {"tova", make_tova}, {"snapkv", make_snapkv}, {"pyramidkv", make_pyramidkv},
      {"l2norm", make_l2norm}, {"expected_attention", make_expected_attention}, {"duo", make_duo},
      {"razor", make_razor}, {"kivi", make_kivi}, {"int8", make_int8}, {"random", make_random},
      {"retrieval_offload", make_retrieval_offload}, {"leank", make_leank}, {"spatten", make_spatten}};
  auto it = table.find(p.name);
  if (it == table.end()) throw std::invalid_argument("kv: unknown method '" + p.name + "'");
  return it->second(p);
}

std::vector<std::string> kv_method_names() {
  return {"full", "streaming", "h2o", "a2sf", "tova", "snapkv", "pyramidkv", "l2norm",
          "expected_attention", "duo", "razor", "kivi", "int8", "random",
          "retrieval_offload", "leank", "spatten"};
}

BudgetCheck check_budget(const KvMethod& m, const KvInput& in, const CompressedCache& c) {
  BudgetCheck r;
  r.requested = m.requested_bytes(in);
  r.kept = c.bytes_kept;
  char buf[256];
  uint64_t sum = 0;
  for (size_t h = 0; h < c.heads.size(); ++h) {
    const auto& hc = c.heads[h];
    const size_t want = hc.kept.size() * static_cast<size_t>(c.head_dim);
    if (hc.kept.empty()) { r.error = "head " + std::to_string(h) + " keeps no token"; return r; }
    if (hc.k.size() != want || hc.v.size() != want) { r.error = "head " + std::to_string(h) + ": k/v size does not match kept slots"; return r; }
    if (hc.bytes == 0) { r.error = "head " + std::to_string(h) + " reports 0 bytes"; return r; }
    sum += hc.bytes;
  }
  if (static_cast<int32_t>(c.heads.size()) != in.heads_kv) { r.error = "cache has wrong number of heads"; return r; }
  if (sum != c.bytes_kept) { r.error = "bytes_kept is not the sum of per-head bytes"; return r; }
  if (r.kept != r.requested) {
    std::snprintf(buf, sizeof buf, "%s keeps %llu bytes but its budget asks for %llu (%.3fx)", c.config.c_str(),
                  static_cast<unsigned long long>(r.kept), static_cast<unsigned long long>(r.requested),
                  r.requested ? static_cast<double>(r.kept) / r.requested : 0.0);
    r.error = buf;
    return r;
  }
  r.ok = true;
  return r;
}

void require_budget(const KvMethod& m, const KvInput& in, const CompressedCache& c) {
  const BudgetCheck r = check_budget(m, in, c);
  if (!r.ok) throw BudgetMismatch("kv budget check failed: " + r.error);
}

namespace detail {

std::string canonical(const std::string& name, std::initializer_list<std::pair<const char*, double>> kv) {
  std::string s = name;
  char sep = ':';
  for (const auto& [k, v] : kv) {
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else std::snprintf(buf, sizeof buf, "%g", v);
    s += sep;
    s += k;
    s += '=';
    s += buf;
    sep = ',';
  }
  return s;
}

void validate(const KvInput& in, bool needs_queries) {
  if (in.heads_kv <= 0 || in.len_k <= 0 || in.head_dim <= 0 || !in.k || !in.v)
    throw std::invalid_argument("kv: empty or malformed cache");
  if (in.heads_q % in.heads_kv) throw std::invalid_argument("kv: heads_q must be a multiple of heads_kv");
  if (needs_queries && !in.q_context) throw std::invalid_argument("kv: method needs the context queries (q_context)");
}

CompressedCache gather(const KvInput& in, const std::vector<std::vector<int32_t>>& kept, const std::string& config,
                       int32_t elem_bytes) {
  CompressedCache c;
  c.config = config, c.heads_kv = in.heads_kv, c.len_k = in.len_k, c.head_dim = in.head_dim;
  c.bytes_full = in.heads_kv * token_bytes(in.len_k, in.head_dim, elem_bytes);
  c.heads.resize(in.heads_kv);
  const size_t d = in.head_dim;
  for (int j = 0; j < in.heads_kv; ++j) {
    HeadCache& h = c.heads[j];
    h.kept = kept[j];
    for (int32_t t : h.kept) {
      const size_t off = (static_cast<size_t>(j) * in.len_k + t) * d;
      h.k.insert(h.k.end(), in.k + off, in.k + off + d);
      h.v.insert(h.v.end(), in.v + off, in.v + off + d);
    }
    h.bytes = token_bytes(h.kept.size(), in.head_dim, elem_bytes);
    c.bytes_kept += h.bytes;
  }
  return c;
}

std::vector<int32_t> top_with(const std::vector<double>& score, int32_t count, std::vector<int32_t> forced) {
  std::vector<char> taken(score.size(), 0);
  for (int32_t f : forced) taken[f] = 1;
  std::vector<int32_t> idx;
  for (size_t i = 0; i < score.size(); ++i) if (!taken[i]) idx.push_back(static_cast<int32_t>(i));
  count = std::clamp<int32_t>(count, 0, static_cast<int32_t>(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + count, idx.end(), [&](int32_t a, int32_t b) {
    return score[a] > score[b] || (score[a] == score[b] && a < b);
  });
  idx.resize(count);
  idx.insert(idx.end(), forced.begin(), forced.end());
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  return idx;
}

std::vector<std::vector<double>> accumulated_attention(const KvInput& in, const std::function<double(int32_t)>& w) {
  const int Lk = in.len_k, d = in.head_dim, g = in.heads_q / in.heads_kv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<int32_t> rows;
  for (int t = 0; t < Lk; ++t) if (w(t) != 0.0) rows.push_back(t);
  std::vector<std::vector<double>> acc(in.heads_kv, std::vector<double>(Lk, 0.0));
  // Parallel over (kv head, query head in group); each task owns a private row of sums.
  std::vector<std::vector<double>> part(in.heads_q, std::vector<double>(Lk, 0.0));
  tbb::parallel_for(0, in.heads_q, [&](int h) {
    const float* kb = in.k + static_cast<size_t>(h / g) * Lk * d;
    std::vector<double> s(Lk);
    for (int32_t t : rows) {
      const float* q = in.q_context + (static_cast<size_t>(h) * Lk + t) * d;
      double m = -INFINITY;
      for (int p = 0; p <= t; ++p) {
        float dot = 0.f;
        const float* kr = kb + static_cast<size_t>(p) * d;
        for (int i = 0; i < d; ++i) dot += q[i] * kr[i];
        s[p] = dot * scale;
        m = std::max(m, s[p]);
      }
      double z = 0;
      for (int p = 0; p <= t; ++p) z += (s[p] = std::exp(s[p] - m));
      const double wt = w(t) / z;
      for (int p = 0; p <= t; ++p) part[h][p] += wt * s[p];
    }
  });
  for (int h = 0; h < in.heads_q; ++h)
    for (int p = 0; p < Lk; ++p) acc[h / g][p] += part[h][p];
  return acc;
}

int32_t budget_tokens(const KvParams& p, int32_t len_k) {
  const int64_t b = p.geti("budget", 256);
  if (b < 1) throw std::invalid_argument("kv: budget must be >= 1 token per head");
  return static_cast<int32_t>(std::min<int64_t>(b, len_k));
}

uint64_t EvictionMethod::requested_bytes(const KvInput& in) const {
  return in.heads_kv * token_bytes(budget_tokens(p_, in.len_k), in.head_dim, elem_bytes());
}

void add_group_attention(const KvInput& in, int32_t j, int32_t t, const std::vector<int32_t>& cache,
                         std::vector<double>& s, std::vector<double>& acc) {
  const int32_t d = in.head_dim, Lk = in.len_k, g = in.heads_q / in.heads_kv;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  s.resize(cache.size());
  for (int32_t h = j * g; h < (j + 1) * g; ++h) {
    const float* q = in.q_context + (static_cast<size_t>(h) * Lk + t) * d;
    double m = -INFINITY, z = 0;
    for (size_t i = 0; i < cache.size(); ++i) {
      const float* kr = in.k + (static_cast<size_t>(j) * Lk + cache[i]) * d;
      float dot = 0.f;
      for (int32_t c = 0; c < d; ++c) dot += q[c] * kr[c];
      m = std::max(m, s[i] = dot * scale);
    }
    for (size_t i = 0; i < cache.size(); ++i) z += (s[i] = std::exp(s[i] - m));
    for (size_t i = 0; i < cache.size(); ++i) acc[i] += s[i] / z;
  }
}

}  // namespace detail
}  // namespace attnbench::kv
