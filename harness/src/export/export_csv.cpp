// The "csv" export format: one row per case, RFC 4180. Fields that start with = + - @
// are written as they are: this is data for analysis tools (pandas, R, sqlite3 .import),
// not a file meant to be opened in a spreadsheet, so no formula-injection escaping.
#include <fmt/format.h>

#include <cmath>
#include <map>

#include "export_results.h"

namespace attnbench::exporter {
namespace {

/// Metrics that most timed or quality cases carry; any other metric stays in the JSON export.
const std::vector<std::string> kMetricColumns = {
    "time_median", "time_min", "time_mad", "flops_per_second", "bytes_per_second", "rel_error", "max_abs_error",
    "recall_accuracy", "attention_mass_kept", "attended_fraction", "predicted_speedup", "output_error_vs_full",
    "compression_ratio", "kv_bytes", "harness_overhead_per_call", "case_wall_time"};

/// RFC 4180: a field with a comma, quote, CR or LF is quoted, inner quotes doubled.
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + '"';
}

/// Shortest text that reads back to the same double; nan/inf/-inf spelled out.
std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

void write_row(std::string& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += field(fields[i]);
  }
  out += "\r\n";
}

}  // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> cols = [] {
    std::vector<std::string> c = {"run_id", "case_key", "suite", "group", "phase", "backend", "device", "variant",
                                  "config", "dtype", "shape", "batch", "heads_q", "heads_kv", "len_q", "len_k",
                                  "head_dim", "page_size", "status", "message", "repetitions", "flops", "bytes"};
    c.insert(c.end(), kMetricColumns.begin(), kMetricColumns.end());
    return c;
  }();
  return cols;
}

std::string to_csv(const ExportRun& r) {
  std::string out;
  write_row(out, csv_columns());
  for (const auto& c : r.cases) {
    std::vector<std::string> row = {std::to_string(r.run.id), c.case_key, c.suite, c.group, c.phase, c.backend,
                                    c.device, c.variant, c.config, c.dtype, c.shape};
    for (int d : {c.batch, c.heads_q, c.heads_kv, c.len_q, c.len_k, c.head_dim, c.page_size})
      row.push_back(std::to_string(d));
    row.insert(row.end(), {c.status, c.message, std::to_string(c.samples.size()),
                           c.flops ? number(*c.flops) : "", c.bytes ? number(*c.bytes) : ""});
    std::map<std::string, double> metrics;
    for (const auto& m : c.metrics) metrics[m.name] = m.value;
    for (const auto& name : kMetricColumns) {
      const auto it = metrics.find(name);
      row.push_back(it == metrics.end() ? "" : number(it->second));
    }
    write_row(out, row);
  }
  return out;
}

}  // namespace attnbench::exporter
