#include "history_report.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "atomic_write.h"
#include "format_units.h"
#include "html_escape.h"
#include "page_assets.h"
#include "sqlite_db.h"
#include "svg_chart.h"

namespace attnbench::reports {

namespace {

struct DbClose {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalize {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) fail();
    st_.reset(raw);
  }
  bool step() {
    int rc = sqlite3_step(st_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail();
  }
  std::string text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_.get(), c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_.get(), c))) : std::string();
  }
  int64_t int64(int c) const { return sqlite3_column_int64(st_.get(), c); }
  std::optional<double> real(int c) const {
    if (sqlite3_column_type(st_.get(), c) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(st_.get(), c);
  }

 private:
  [[noreturn]] void fail() const {
    throw std::runtime_error(fmt::format("cannot read database '{}': {}", path_, sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  const std::string& path_;
  std::unique_ptr<sqlite3_stmt, StmtFinalize> st_;
};

std::string percent(double ratio) { return fmt::format("{:+.0f}%", (ratio - 1) * 100); }

}  // namespace

HistoryData load_history(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw std::runtime_error(fmt::format("database '{}' not found", path));
  sqlite3* raw = nullptr;
  int rc = store::open_read_only(path, &raw, store::read_only_mode_for(path));
  std::unique_ptr<sqlite3, DbClose> db(raw);
  if (rc != SQLITE_OK)
    throw std::runtime_error(fmt::format("cannot open database '{}': {}", path,
                                         raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db.get(), 5000);
  {
    Stmt q(db.get(), path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('runs', 'cases', 'metrics')");
    if (!q.step() || q.int64(0) != 3)
      throw std::runtime_error(fmt::format("'{}' is not an attnbench database", path));
  }
  bool campaigns = false;
  {
    Stmt q(db.get(), path, "SELECT 1 FROM pragma_table_info('runs') WHERE name = 'campaign'");
    campaigns = q.step();
  }
  HistoryData data;
  std::map<int64_t, size_t> entry_of_run;
  std::map<std::string, size_t> entry_of_label;
  {
    Stmt q(db.get(), path,
           campaigns ? "SELECT id, started_at, coalesce(git_sha, ''), campaign FROM runs ORDER BY started_at, id"
                     : "SELECT id, started_at, coalesce(git_sha, ''), '' FROM runs ORDER BY started_at, id");
    while (q.step()) {
      const int64_t id = q.int64(0);
      std::string label = q.text(3);
      if (label.empty()) label = fmt::format("run-{}", id);
      auto [it, fresh] = entry_of_label.emplace(label, data.entries.size());
      if (fresh) data.entries.push_back({label, q.text(2), q.text(1), id});
      entry_of_run[id] = it->second;
    }
  }
  // Runs newest last within an entry, so a later row for the same key replaces an earlier one.
  std::map<std::string, HistorySeries> by_key;
  std::map<std::pair<std::string, size_t>, HistoryValue> values;
  {
    Stmt q(db.get(), path,
           "SELECT c.run_id, c.case_key, c.suite, c.phase, "
           "(SELECT value FROM metrics WHERE case_id = c.id AND name = 'time_median'), "
           "(SELECT value FROM metrics WHERE case_id = c.id AND name = 'rel_error'), "
           "(SELECT value FROM metrics WHERE case_id = c.id AND name = 'recall_accuracy') "
           "FROM cases c JOIN runs r ON r.id = c.run_id WHERE c.status = 'ok' "
           "ORDER BY r.started_at, r.id, c.id");
    while (q.step()) {
      const int64_t run = q.int64(0);
      const auto time = q.real(4);
      if (!time || !std::isfinite(*time) || *time <= 0) continue;
      const std::string key = q.text(1);
      auto& s = by_key[key];
      if (s.case_key.empty()) s = {key, q.text(2), q.text(3), {}};
      const size_t entry = entry_of_run.at(run);
      values[{key, entry}] = {entry, run, *time, q.real(5), q.real(6)};
    }
  }
  for (auto& [k, v] : values) by_key[k.first].values.push_back(v);
  for (auto& [k, s] : by_key) data.series.push_back(std::move(s));
  std::sort(data.series.begin(), data.series.end(), [](const HistorySeries& a, const HistorySeries& b) {
    return std::tie(a.suite, a.phase, a.case_key) < std::tie(b.suite, b.phase, b.case_key);
  });
  return data;
}

std::string render_history_page(const HistoryData& data, const ChangeDetector& detect,
                                const std::string& source_name) {
  std::string charts, rows;
  size_t change_count = 0;
  const size_t n_entries = data.entries.size();
  auto x_label = [&data](double x) -> std::string {
    const auto i = static_cast<long>(std::lround(x));
    if (i < 0 || static_cast<size_t>(i) >= data.entries.size() || std::fabs(x - static_cast<double>(i)) > 1e-9) return "";
    return data.entries[static_cast<size_t>(i)].short_name();
  };
  std::vector<double> x_ticks;
  const size_t stride = std::max<size_t>(1, (n_entries + 7) / 8);
  for (size_t i = 0; i < n_entries; i += stride) x_ticks.push_back(static_cast<double>(i));
  std::string current_suite;
  for (const HistorySeries& s : data.series) {
    if (s.suite + "/" + s.phase != current_suite) {
      current_suite = s.suite + "/" + s.phase;
      charts += fmt::format("<h3>{}</h3>\n", html_escape(current_suite));
    }
    std::vector<double> times;
    for (const auto& v : s.values) times.push_back(v.time_median);
    const std::vector<size_t> cps = detect ? detect(times) : std::vector<size_t>{};
    LogLogChart chart;
    chart.title = s.case_key;
    chart.css_class = "history";
    chart.width = 560;
    chart.plot_height = 160;
    chart.x = ChartAxis("commit (run order)", x_label, x_ticks, false,
                        std::make_pair(-0.5, std::max(0.5, static_cast<double>(n_entries) - 0.5)));
    chart.y = ChartAxis("median time", [](double v) { return format_seconds(v); });
    ChartSeries line("time_median");
    for (const auto& v : s.values)
      line.points.push_back({static_cast<double>(v.entry), v.time_median,
                             fmt::format("{} ({})", data.entries[v.entry].short_name(), data.entries[v.entry].label)});
    chart.series.push_back(line);
    const auto [lo, hi] = std::minmax_element(times.begin(), times.end());
    for (size_t i = 0; i < cps.size(); ++i) {
      const size_t at = cps[i];
      if (at == 0 || at >= s.values.size()) continue;
      const size_t from = i == 0 ? 0 : cps[i - 1];
      const size_t to = i + 1 < cps.size() ? cps[i + 1] : times.size();
      auto med = [&](size_t a, size_t b) {
        std::vector<double> seg(times.begin() + static_cast<long>(a), times.begin() + static_cast<long>(b));
        std::sort(seg.begin(), seg.end());
        const size_t n = seg.size();
        return n % 2 ? seg[n / 2] : 0.5 * (seg[n / 2 - 1] + seg[n / 2]);
      };
      const double before = med(from, at), after = med(at, to);
      const HistoryEntry& e = data.entries[s.values[at].entry];
      const std::string label = fmt::format("{} at {}", percent(after / before), e.short_name());
      const double x = static_cast<double>(s.values[at].entry) - 0.5;
      chart.guides.push_back(ChartGuide(label, {{x, *lo, ""}, {x, *hi, ""}}, "change-point", "#c0392b"));
      rows += fmt::format(
          "<tr class=\"change-point\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3f}</td></tr>\n",
          html_escape(s.case_key), html_escape(e.label), html_escape(e.short_name()),
          html_escape(format_seconds(before)), html_escape(format_seconds(after)), after / before);
      ++change_count;
    }
    charts += "<div class=\"history-case\">" + render_loglog_chart(chart);
    // Quality where the case has it: recall on [0, 1], relative error on a log axis.
    for (const char* metric : {"recall_accuracy", "rel_error"}) {
      const bool recall = std::string_view(metric) == "recall_accuracy";
      ChartSeries q(metric);
      for (const auto& v : s.values) {
        const auto& val = recall ? v.recall_accuracy : v.rel_error;
        if (val) q.points.push_back({static_cast<double>(v.entry), *val, data.entries[v.entry].short_name()});
      }
      if (q.points.empty()) continue;
      LogLogChart qc;
      qc.title = fmt::format("{}: {}", s.case_key, metric);
      qc.css_class = "history-quality";
      qc.width = 560;
      qc.plot_height = 120;
      qc.x = chart.x;
      qc.y = recall ? ChartAxis(metric, {}, {}, false, std::make_pair(0.0, 1.0)) : ChartAxis(metric);
      qc.series.push_back(q);
      charts += render_loglog_chart(qc);
    }
    charts += "</div>\n";
  }
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<title>attnbench history</title><style>";
  page += kReportCss;
  page += ".history-case{display:inline-block;vertical-align:top;max-width:580px;margin:4px}</style></head><body>\n";
  page += fmt::format("<h1>Performance history</h1>\n<p>{} points (runs; the runs of one campaign are one point) "
                      "from <code>{}</code>, {} case keys, {} change points.</p>\n",
                      n_entries, html_escape(source_name), data.series.size(), change_count);
  page += "<p>Change points: binary segmentation of log(median time): the split with the smallest two-sided "
          "Mann-Whitney p is kept when p &le; 0.01, both sides have at least 3 points and their medians differ "
          "by more than 5%; then both sides are split again (a simplified E-divisive means).</p>\n";
  page += "<h2>Change points</h2>\n";
  if (rows.empty()) page += "<p class=\"no-change-points\">No change points detected.</p>\n";
  else
    page += "<table class=\"change-points\"><thead><tr><th>case</th><th>run / campaign</th><th>commit</th>"
            "<th>median before</th><th>median after</th><th>ratio</th></tr></thead><tbody>\n" + rows +
            "</tbody></table>\n";
  page += "<h2>Per case</h2>\n" + charts + "</body></html>\n";
  return page;
}

void write_history_report(const std::string& db_path, const ChangeDetector& detect,
                          const std::string& out_path) {
  const HistoryData data = load_history(db_path);
  write_file_atomically(out_path, render_history_page(data, detect,
                                                      std::filesystem::path(db_path).filename().string()));
}

}  // namespace attnbench::reports
