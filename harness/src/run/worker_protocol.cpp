#include "worker_protocol.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>

namespace attnbench::worker {

using nlohmann::json;

namespace {

json number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

double number_from(const json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  return NAN;
}

json optional_number(const std::optional<double>& v) { return v ? number(*v) : json(nullptr); }

std::optional<double> optional_number_from(const json& j) {
  if (j.is_null()) return std::nullopt;
  return number_from(j);
}

}  // namespace

json to_json(const OpenRequest& r) {
  json j{{"op", "open"},          {"backend", r.backend},       {"plugin", r.plugin_path},
         {"device", r.device},    {"selection", r.selection},   {"suites_dir", r.suites_dir},
         {"available", r.available}};
  if (r.peaks) j["peaks"] = to_json(*r.peaks);
  if (!r.input_cache_dir.empty()) j["input_cache_dir"] = r.input_cache_dir;
  return j;
}

OpenRequest open_request_from_json(const json& j) {
  OpenRequest r;
  r.backend = j.at("backend");
  r.plugin_path = j.at("plugin");
  r.device = j.at("device");
  r.selection = j.at("selection");
  r.suites_dir = j.at("suites_dir");
  r.available = j.at("available").get<std::vector<std::string>>();
  if (j.contains("peaks")) r.peaks = peaks_from_json(j["peaks"]);
  r.input_cache_dir = j.value("input_cache_dir", "");
  return r;
}

json to_json(const OpenReply& r) {
  return {{"op", "opened"},         {"error", r.error},   {"invalid_argument", r.invalid_argument},
          {"device", r.device_name}, {"driver", r.driver}, {"memory_bytes", r.memory_bytes},
          {"no_device_reason", r.no_device_reason}};
}

OpenReply open_reply_from_json(const json& j) {
  OpenReply r;
  r.error = j.at("error");
  r.invalid_argument = j.at("invalid_argument");
  r.device_name = j.at("device");
  r.driver = j.at("driver");
  r.memory_bytes = j.at("memory_bytes");
  r.no_device_reason = j.at("no_device_reason");
  return r;
}

json to_json(const ab_peaks& p) {
  return {{"flops_f32", number(p.flops_f32)},
          {"flops_f16", number(p.flops_f16)},
          {"flops_bf16", number(p.flops_bf16)},
          {"cache_bytes", number(p.cache_bytes)},
          {"bytes_per_second", number(p.bytes_per_second)}};
}

ab_peaks peaks_from_json(const json& j) {
  ab_peaks p{};
  p.flops_f32 = number_from(j.at("flops_f32"));
  p.flops_f16 = number_from(j.at("flops_f16"));
  if (j.contains("flops_bf16")) p.flops_bf16 = number_from(j.at("flops_bf16"));
  if (j.contains("cache_bytes")) p.cache_bytes = number_from(j.at("cache_bytes"));
  p.bytes_per_second = number_from(j.at("bytes_per_second"));
  return p;
}

json to_json(const store::CaseRecord& r) {
  json samples = json::array(), metrics = json::array();
  for (const auto& s : r.samples) samples.push_back({s.repetition, s.iterations, number(s.seconds)});
  for (const auto& m : r.metrics) metrics.push_back({m.name, number(m.value), m.unit});
  return {{"case_key", r.case_key}, {"suite", r.suite},       {"suite_file_hash", r.suite_file_hash},
          {"phase", r.phase},       {"backend", r.backend},   {"device", r.device},
          {"variant", r.variant},   {"config", r.config},     {"dtype", r.dtype},
          {"shape", r.shape},       {"group", r.group},       {"target", r.target},
          {"dims", {r.batch, r.heads_q, r.heads_kv, r.len_q, r.len_k, r.head_dim, r.page_size}},
          {"status", r.status},     {"message", r.message},   {"flops", optional_number(r.flops)},
          {"bytes", optional_number(r.bytes)}, {"samples", samples}, {"metrics", metrics}};
}

store::CaseRecord case_record_from_json(const json& j) {
  store::CaseRecord r;
  r.case_key = j.at("case_key");
  r.suite = j.at("suite");
  r.suite_file_hash = j.at("suite_file_hash");
  r.phase = j.at("phase");
  r.backend = j.at("backend");
  r.device = j.at("device");
  r.variant = j.at("variant");
  r.config = j.at("config");
  r.dtype = j.at("dtype");
  r.shape = j.at("shape");
  r.group = j.at("group");
  r.target = j.at("target");
  const json& d = j.at("dims");
  r.batch = d.at(0), r.heads_q = d.at(1), r.heads_kv = d.at(2), r.len_q = d.at(3);
  r.len_k = d.at(4), r.head_dim = d.at(5), r.page_size = d.at(6);
  r.status = j.at("status");
  r.message = j.at("message");
  r.flops = optional_number_from(j.at("flops"));
  r.bytes = optional_number_from(j.at("bytes"));
  for (const auto& s : j.at("samples")) r.samples.push_back({s.at(0), s.at(1), number_from(s.at(2))});
  for (const auto& m : j.at("metrics")) r.metrics.push_back({m.at(0), number_from(m.at(1)), m.at(2)});
  return r;
}

bool write_message(int fd, const json& j) {
  // Replace invalid UTF-8 (a plugin's message may carry any bytes) instead of throwing.
  const std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> LineBuffer::next_line() {
  const size_t nl = pending_.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  std::string line = pending_.substr(0, nl);
  pending_.erase(0, nl + 1);
  return line;
}

std::optional<std::string> read_line_blocking(int fd, LineBuffer& buf) {
  char chunk[65536];
  while (true) {
    if (auto line = buf.next_line()) return line;
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buf.feed(chunk, static_cast<size_t>(n));
  }
}

}  // namespace attnbench::worker
