#include "export_results.h"

#include "campaigns.h"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace attnbench::exporter {
namespace {

/// "it holds runs 1..7 (7 runs)" for the unknown-run message, so the user sees what to pass.
std::string held_runs(store::Connection& c) {
  store::Statement s(c.handle(), "SELECT count(*), min(id), max(id) FROM runs");
  if (!s.step() || s.column_int(0) == 0) return "it holds no runs";
  return fmt::format("it holds {} run{}, ids {}..{}", s.column_int(0), s.column_int(0) == 1 ? "" : "s",
                     s.column_int(1), s.column_int(2));
}

void load_cases(sqlite3* h, int64_t run_id, std::vector<store::CaseRecord>& cases) {
  std::unordered_map<int64_t, size_t> index;  // cases.id -> position, for samples and metrics
  store::Statement cs(h,
                      "SELECT id, case_key, suite, suite_file_hash, phase, backend, device, variant, config, dtype,"
                      " batch, heads_q, heads_kv, len_q, len_k, head_dim, page_size, shape, status, message, flops,"
                      " bytes, group_name, coalesce(target, '') FROM cases WHERE run_id = ? ORDER BY id");
  cs.bind(1, run_id);
  while (cs.step()) {
    store::CaseRecord c;
    c.case_key = cs.column_text(1); c.suite = cs.column_text(2); c.suite_file_hash = cs.column_text(3);
    c.phase = cs.column_text(4); c.backend = cs.column_text(5); c.device = cs.column_text(6);
    c.variant = cs.column_text(7); c.config = cs.column_text(8); c.dtype = cs.column_text(9);
    int* dims[] = {&c.batch, &c.heads_q, &c.heads_kv, &c.len_q, &c.len_k, &c.head_dim, &c.page_size};
    for (int i = 0; i < 7; ++i) *dims[i] = static_cast<int>(cs.column_int(10 + i));
    c.shape = cs.column_text(17); c.status = cs.column_text(18); c.message = cs.column_text(19);
    if (!cs.column_is_null(20)) c.flops = cs.column_double(20);
    if (!cs.column_is_null(21)) c.bytes = cs.column_double(21);
    c.group = cs.column_text(22); c.target = cs.column_text(23);
    index[cs.column_int(0)] = cases.size();
    cases.push_back(std::move(c));
  }
  store::Statement ss(h,
                      "SELECT s.case_id, s.repetition, s.iterations, s.seconds FROM samples s"
                      " JOIN cases c ON c.id = s.case_id WHERE c.run_id = ? ORDER BY s.case_id, s.repetition");
  ss.bind(1, run_id);
  while (ss.step())
    cases[index.at(ss.column_int(0))].samples.push_back(
        {static_cast<int>(ss.column_int(1)), ss.column_int(2), ss.column_double(3)});
  // Sorted by name so that two exports of equal runs are equal files.
  store::Statement ms(h,
                      "SELECT m.case_id, m.name, m.value, m.unit FROM metrics m JOIN cases c ON c.id = m.case_id"
                      " WHERE c.run_id = ? ORDER BY m.case_id, m.name");
  ms.bind(1, run_id);
  while (ms.step())
    cases[index.at(ms.column_int(0))].metrics.push_back(
        {ms.column_text(1), ms.column_is_null(2) ? std::numeric_limits<double>::quiet_NaN() : ms.column_double(2),
         ms.column_text(3)});
}

}  // namespace

void check_format(const std::string& format) {
  for (const auto& f : export_formats())
    if (f == format) return;
  throw std::invalid_argument(
      fmt::format("unknown export format '{}' (formats: {})", format, fmt::join(export_formats(), ", ")));
}

ExportRun load_export_run(store::ResultsStore& db, std::optional<int64_t> run_id) {
  const std::string& path = db.connection().path();
  auto run = db.load_run(run_id);
  if (!run && !run_id) throw std::invalid_argument(fmt::format("'{}' holds no runs; nothing to export", path));
  if (!run)
    throw std::invalid_argument(fmt::format("run {} not found in '{}' ({})", *run_id, path, held_runs(db.connection())));
  ExportRun r;
  r.run = *run;
  sqlite3* h = db.connection().handle();
  load_cases(h, r.run.id, r.cases);
  if (r.cases.empty())
    throw std::invalid_argument(fmt::format("run {} in '{}' has no cases stored; nothing to export", r.run.id, path));
  store::Statement ps(h,
                      "SELECT backend, device, name, value, unit FROM machine_peaks WHERE run_id = ?"
                      " ORDER BY backend, device, name");
  ps.bind(1, r.run.id);
  while (ps.step())
    r.peaks.push_back({ps.column_text(0), ps.column_text(1), ps.column_text(2), ps.column_text(4), ps.column_double(3)});
  return r;
}

ExportRun load_export_campaign(store::ResultsStore& db, const std::string& campaign) {
  const std::vector<int64_t> ids = store::campaign_runs(db, campaign);
  if (ids.empty())
    throw std::invalid_argument(fmt::format("no campaign '{}' in '{}' (see 'attnbench list runs')", campaign,
                                            db.connection().path()));
  ExportRun all = load_export_run(db, ids.front());
  for (size_t i = 1; i < ids.size(); ++i) {
    ExportRun more = load_export_run(db, ids[i]);
    all.cases.insert(all.cases.end(), more.cases.begin(), more.cases.end());
    all.peaks.insert(all.peaks.end(), more.peaks.begin(), more.peaks.end());
  }
  return all;
}

std::string export_run(const ExportRun& r, const std::string& format) {
  check_format(format);
  if (format == "json") return to_json(r);
  if (format == "csv") return to_csv(r);
  return to_gbench(r);
}

}  // namespace attnbench::exporter
