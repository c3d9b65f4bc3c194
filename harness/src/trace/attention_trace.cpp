#include "attention_trace.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "npy_file.h"

namespace attnbench::trace {
namespace fs = std::filesystem;
namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", path, why));
}

int32_t positive_int(const nlohmann::json& j, const char* key, const std::string& path, int64_t max) {
  if (!j.contains(key)) refuse(path, fmt::format("missing '{}'", key));
  const auto& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > max)
    refuse(path, fmt::format("'{}' must be an integer in 1..{}, got {}", key, max, v.dump()));
  return static_cast<int32_t>(v.get<int64_t>());
}

std::string layer_file(const TraceInfo& t, int32_t l, const char* name) {
  return (fs::path(t.dir) / fmt::format("layer_{}", l) / name).string();
}

/// Checks one array's header against [heads, len, D]; len < 0 takes it from the file.
NpyHeader check_array(const std::string& path, int32_t heads, int32_t& len, int32_t d) {
  const NpyHeader h = read_npy_header(path);
  if (h.shape.size() != 3 || h.shape[0] != heads || h.shape[2] != d || (len >= 0 && h.shape[1] != len))
    refuse(path, fmt::format("shape ({}) does not match [{}, {}, {}] from trace.json", fmt::join(h.shape, ", "), heads,
                             len >= 0 ? std::to_string(len) : "len", d));
  if (len < 0) {
    if (h.shape[1] < 2 || h.shape[1] > (int64_t{1} << 24)) refuse(path, fmt::format("length {} out of range 2..2^24", h.shape[1]));
    len = static_cast<int32_t>(h.shape[1]);
  }
  return h;
}

}  // namespace

std::string TraceInfo::shape() const {
  return fmt::format("trace={},model={},layers={},hq={},hkv={},d={},len={},qstart={}", fs::path(dir).filename().string(),
                     model, layers, heads_q, heads_kv, head_dim, len, question_start);
}

TraceInfo check_trace(const std::string& dir) {
  TraceInfo t;
  t.dir = fs::path(dir).lexically_normal().string();
  if (!t.dir.empty() && t.dir.back() == '/') t.dir.pop_back();
  if (!fs::is_directory(dir)) refuse(dir, "trace folder not found");
  const std::string meta = (fs::path(dir) / "trace.json").string();
  std::ifstream in(meta);
  if (!in) refuse(meta, "missing or unreadable");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    refuse(meta, fmt::format("not valid JSON ({})", e.what()));
  }
  if (!j.is_object()) refuse(meta, "must be a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "model" && k != "layers" && k != "heads_q" && k != "heads_kv" && k != "head_dim" && k != "rope_applied" &&
        k != "question_start")
      refuse(meta, fmt::format("unknown key '{}'", k));
  if (!j.contains("model") || !j["model"].is_string()) refuse(meta, "'model' must be a string");
  t.model = j["model"].get<std::string>();
  if (t.model.find_first_of(",|\n") != std::string::npos) refuse(meta, "'model' may not contain ',', '|' or newlines");
  t.layers = positive_int(j, "layers", meta, 4096);
  t.heads_q = positive_int(j, "heads_q", meta, 4096);
  t.heads_kv = positive_int(j, "heads_kv", meta, 4096);
  t.head_dim = positive_int(j, "head_dim", meta, 256);
  t.question_start = positive_int(j, "question_start", meta, int64_t{1} << 24);
  if (!j.contains("rope_applied") || !j["rope_applied"].is_boolean()) refuse(meta, "'rope_applied' must be true or false");
  t.rope_applied = j["rope_applied"].get<bool>();
  if (t.heads_q % t.heads_kv) refuse(meta, fmt::format("heads_q {} is not a multiple of heads_kv {}", t.heads_q, t.heads_kv));
  t.len = -1;
  for (int32_t l = 0; l < t.layers; ++l) {
    const fs::path ld = fs::path(dir) / fmt::format("layer_{}", l);
    if (!fs::is_directory(ld)) refuse(ld.string(), fmt::format("missing layer (trace.json says {} layers)", t.layers));
    check_array(layer_file(t, l, "q.npy"), t.heads_q, t.len, t.head_dim);
    check_array(layer_file(t, l, "k.npy"), t.heads_kv, t.len, t.head_dim);
    check_array(layer_file(t, l, "v.npy"), t.heads_kv, t.len, t.head_dim);
  }
  if (t.question_start >= t.len)
    refuse(meta, fmt::format("question_start {} leaves no question tokens (len {})", t.question_start, t.len));
  return t;
}

recall::RecallCase load_trace_layer(const TraceInfo& t, int32_t layer, int32_t max_questions) {
  if (layer < 0 || layer >= t.layers) throw std::invalid_argument(fmt::format("{}: no layer {}", t.dir, layer));
  const int T = t.question_start, L = t.len, D = t.head_dim;
  const int nq = max_questions > 0 ? std::min(L - T, max_questions) : L - T;
  const auto q = read_npy(layer_file(t, layer, "q.npy"));
  const auto k = read_npy(layer_file(t, layer, "k.npy"));
  const auto v = read_npy(layer_file(t, layer, "v.npy"));
  recall::RecallCase c;
  c.heads_q = t.heads_q, c.heads_kv = t.heads_kv, c.len_k = T, c.head_dim = D, c.n_questions = nq;
  c.tail_start = T;
  c.q_context.resize(static_cast<size_t>(t.heads_q) * T * D);
  c.q_question.resize(static_cast<size_t>(t.heads_q) * nq * D);
  for (int h = 0; h < t.heads_q; ++h) {
    const float* src = &q[static_cast<size_t>(h) * L * D];
    std::copy_n(src, static_cast<size_t>(T) * D, &c.q_context[static_cast<size_t>(h) * T * D]);
    std::copy_n(src + static_cast<size_t>(T) * D, static_cast<size_t>(nq) * D, &c.q_question[static_cast<size_t>(h) * nq * D]);
  }
  c.k.resize(static_cast<size_t>(t.heads_kv) * T * D);
  c.v.resize(c.k.size());
  for (int j = 0; j < t.heads_kv; ++j) {
    std::copy_n(&k[static_cast<size_t>(j) * L * D], static_cast<size_t>(T) * D, &c.k[static_cast<size_t>(j) * T * D]);
    std::copy_n(&v[static_cast<size_t>(j) * L * D], static_cast<size_t>(T) * D, &c.v[static_cast<size_t>(j) * T * D]);
  }
  return c;
}

}  // namespace attnbench::trace
