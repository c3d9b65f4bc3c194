#include "campaigns.h"

#include <fmt/format.h>
#include <re2/re2.h>

#include <stdexcept>

namespace attnbench::store {
namespace {

/// Databases opened read-only at schema 2 have no campaign column: every run is alone.
bool has_campaign_column(Connection& c) {
  Statement s(c.handle(), "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'campaign'");
  return s.step() && s.column_int(0) > 0;
}

bool run_exists(Connection& c, int64_t id) {
  Statement s(c.handle(), "SELECT 1 FROM runs WHERE id = ?");
  s.bind(1, id);
  return s.step();
}

}  // namespace

void check_campaign_name(const std::string& name) {
  if (name.empty() || name.size() > 200)
    throw std::invalid_argument(fmt::format("campaign name must be 1 to 200 characters, not {}", name.size()));
  for (unsigned char ch : name)
    if (ch < 0x20 || ch == 0x7f) throw std::invalid_argument("campaign name must not contain control characters");
  if (RE2::FullMatch(name, "[0-9]+") || RE2::FullMatch(name, "run-[0-9]+"))
    throw std::invalid_argument(fmt::format("campaign name '{}' would read as a run id; choose another", name));
}

void set_campaign(ResultsStore& db, int64_t run_id, const std::string& name) {
  Statement s(db.connection().handle(), "UPDATE runs SET campaign = ? WHERE id = ?");
  s.bind(1, name).bind(2, run_id);
  s.run();
}

std::string campaign_of(ResultsStore& db, int64_t run_id) {
  if (has_campaign_column(db.connection())) {
    Statement s(db.connection().handle(), "SELECT campaign FROM runs WHERE id = ?");
    s.bind(1, run_id);
    if (s.step() && !s.column_text(0).empty()) return s.column_text(0);
  }
  return fmt::format("run-{}", run_id);
}

std::vector<int64_t> campaign_runs(ResultsStore& db, const std::string& name) {
  Connection& c = db.connection();
  int64_t single = 0;
  if (RE2::FullMatch(name, "run-([0-9]{1,18})", &single)) {
    // A run on its own, unless it was given a campaign name.
    if (run_exists(c, single) && campaign_of(db, single) == name) return {single};
    return {};
  }
  std::vector<int64_t> ids;
  if (!has_campaign_column(c)) return ids;
  Statement s(c.handle(), "SELECT id FROM runs WHERE campaign = ? ORDER BY id");
  s.bind(1, name);
  while (s.step()) ids.push_back(s.column_int(0));
  return ids;
}

std::vector<int64_t> resolve_runs(ResultsStore& db, const std::string& arg) {
  int64_t id = 0;
  if (RE2::FullMatch(arg, "([0-9]{1,18})", &id)) {
    if (!run_exists(db.connection(), id))
      throw std::invalid_argument(fmt::format("run {} not found in '{}'", id, db.connection().path()));
    return {id};
  }
  std::vector<int64_t> ids = campaign_runs(db, arg);
  if (ids.empty())
    throw std::invalid_argument(
        fmt::format("'{}' is neither a run id nor a campaign in '{}' (see 'attnbench list runs')", arg, db.connection().path()));
  return ids;
}

}  // namespace attnbench::store
