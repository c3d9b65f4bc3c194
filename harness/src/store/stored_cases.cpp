#include "stored_cases.h"

namespace attnbench::store {

std::map<std::string, std::string> stored_case_statuses(ResultsStore& db, int64_t run_id) {
  std::map<std::string, std::string> out;
  Statement s(db.connection().handle(), "SELECT case_key, status FROM cases WHERE run_id = ?");
  s.bind(1, run_id);
  while (s.step()) out.emplace(s.column_text(0), s.column_text(1));
  return out;
}

void forget_cases(ResultsStore& db, int64_t run_id, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  Connection& c = db.connection();
  with_transaction(c, [&] {
    Statement samples(c.handle(),
                      "DELETE FROM samples WHERE case_id IN (SELECT id FROM cases WHERE run_id = ? AND case_key = ?)");
    Statement metrics(c.handle(),
                      "DELETE FROM metrics WHERE case_id IN (SELECT id FROM cases WHERE run_id = ? AND case_key = ?)");
    Statement cases(c.handle(), "DELETE FROM cases WHERE run_id = ? AND case_key = ?");
    for (const std::string& key : keys)
      for (Statement* st : {&samples, &metrics, &cases}) {
        st->bind(1, run_id).bind(2, key);
        st->run();
      }
  });
}

}  // namespace attnbench::store
