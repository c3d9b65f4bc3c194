#include "compare_cases.h"

#include "campaigns.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace attnbench::compare {
namespace {

/// "1-3, 5" style summary of the run ids in a database, for the unknown-run message.
std::string run_ids(store::Connection& c) {
  store::Statement s(c.handle(), "SELECT id FROM runs ORDER BY id");
  std::vector<int64_t> ids;
  while (s.step()) ids.push_back(s.column_int(0));
  if (ids.empty()) return "no runs";
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    out += fmt::format("{}{}", out.empty() ? "runs " : ", ", i == j ? fmt::format("{}", ids[i])
                                                                    : fmt::format("{}-{}", ids[i], ids[j]));
    i = j + 1;
  }
  return out;
}

std::string generator_of(const std::string& library_versions) {
  const auto j = nlohmann::json::parse(library_versions, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("generator") && j["generator"].is_string()) return j["generator"].get<std::string>();
  return {};
}

}  // namespace

const StoredCase* StoredRun::find(const std::string& case_key) const {
  for (const auto& c : cases)
    if (c.case_key == case_key) return &c;
  return nullptr;
}

StoredRun load_stored_run(store::ResultsStore& db, int64_t run_id) {
  auto run = db.load_run(run_id);
  if (!run)
    throw std::invalid_argument(fmt::format("run {} not found in '{}' (it holds {})", run_id,
                                            db.connection().path(), run_ids(db.connection())));
  StoredRun r;
  r.run = *run;
  r.name = std::to_string(run_id);
  r.run_ids = {run_id};
  r.generator_version = generator_of(run->library_versions);
  sqlite3* h = db.connection().handle();
  std::unordered_map<int64_t, size_t> index;
  store::Statement cs(h,
                      "SELECT id, case_key, suite, suite_file_hash, backend, device, config, dtype, shape, status,"
                      " message FROM cases WHERE run_id = ? ORDER BY id");
  cs.bind(1, run_id);
  while (cs.step()) {
    StoredCase c;
    c.case_key = cs.column_text(1); c.suite = cs.column_text(2); c.suite_file_hash = cs.column_text(3);
    c.backend = cs.column_text(4); c.device = cs.column_text(5); c.config = cs.column_text(6);
    c.dtype = cs.column_text(7); c.shape = cs.column_text(8); c.status = cs.column_text(9);
    c.message = cs.column_text(10);
    index[cs.column_int(0)] = r.cases.size();
    r.cases.push_back(std::move(c));
  }
  store::Statement ss(h,
                      "SELECT s.case_id, s.seconds FROM samples s JOIN cases c ON c.id = s.case_id"
                      " WHERE c.run_id = ? ORDER BY s.case_id, s.repetition");
  ss.bind(1, run_id);
  while (ss.step()) r.cases[index.at(ss.column_int(0))].seconds.push_back(ss.column_double(1));
  store::Statement ms(h,
                      "SELECT m.case_id, m.name, m.value FROM metrics m JOIN cases c ON c.id = m.case_id"
                      " WHERE c.run_id = ?");
  ms.bind(1, run_id);
  while (ms.step())
    r.cases[index.at(ms.column_int(0))].metrics[ms.column_text(1)] =
        ms.column_is_null(2) ? std::numeric_limits<double>::quiet_NaN() : ms.column_double(2);
  return r;
}

std::vector<std::string> fingerprint_differences(const StoredRun& base_run, const StoredCase& base,
                                                 const StoredRun& cand_run, const StoredCase& cand) {
  std::vector<std::string> out;
  auto check = [&](const char* part, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(fmt::format("{}: '{}' vs '{}'", part, a, b));
  };
  check("config", base.config, cand.config);
  check("shape", base.shape, cand.shape);
  check("dtype", base.dtype, cand.dtype);
  check("suite_file_hash", base.suite_file_hash, cand.suite_file_hash);
  check("build_type", base_run.run.build_type, cand_run.run.build_type);
  check("generator", base_run.generator_version, cand_run.generator_version);
  return out;
}

bool is_failure_status(const std::string& status) {
  return status == "failed" || status == "error" || status == "oom" || status == "crashed" || status == "timeout";
}

StoredRun load_stored_runs(store::ResultsStore& db, const std::string& run_or_campaign) {
  const std::vector<int64_t> ids = store::resolve_runs(db, run_or_campaign);
  StoredRun all = load_stored_run(db, ids.front());
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < all.cases.size(); ++i) index[all.cases[i].case_key] = i;
  for (size_t r = 1; r < ids.size(); ++r) {
    StoredRun more = load_stored_run(db, ids[r]);
    // One result: incomplete while any part is; a case stored twice (a shard run again)
    // counts as its newest run stored it.
    if (more.run.status != "complete") all.run.status = more.run.status;
    for (StoredCase& c : more.cases) {
      const auto [it, fresh] = index.emplace(c.case_key, all.cases.size());
      if (fresh) all.cases.push_back(std::move(c));
      else all.cases[it->second] = std::move(c);
    }
  }
  all.name = run_or_campaign;
  all.run_ids = ids;
  return all;
}

}  // namespace attnbench::compare
