#include "answers_kv.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "html_escape.h"
#include "series_colors.h"

namespace attnbench::reports {

namespace {

using CaseKey = std::tuple<std::string, std::string, std::string, std::string, std::string, std::string>;

CaseKey case_key(const CaseResult& c) {
  return {c.suite, c.backend, c.device, c.dtype, c.phase, c.shape};
}

std::string method_of(const std::string& config) {
  size_t colon = config.find(':');
  return config.substr(3, colon == std::string::npos ? std::string::npos : colon - 3);
}

/// Numeric budgets in numeric order (64 before 128), then anything else by text.
bool budget_less(const std::string& a, const std::string& b) {
  auto num = [](const std::string& s) -> std::optional<double> {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') return std::nullopt;
    return v;
  };
  auto x = num(a), y = num(b);
  if (x && y) return *x < *y;
  if (x || y) return x.has_value();
  return a < b;
}

std::string accuracy_text(double a) { return fmt::format("{:.1f}%", 100 * a); }

}  // namespace

std::string config_option(const std::string& config, const std::string& name) {
  size_t colon = config.find(':');
  if (colon == std::string::npos) return {};
  const std::string opts = config.substr(colon + 1);
  size_t at = 0;
  while (at <= opts.size()) {
    size_t comma = opts.find(',', at);
    std::string item = opts.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.rfind(name + "=", 0) == 0) return item.substr(name.size() + 1);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return {};
}

std::vector<KvBudget> kv_budget_answers(const RunData& data) {
  // budget -> config -> case -> the case (its accuracy and mass kept)
  std::map<std::string, std::map<std::string, std::map<CaseKey, const CaseResult*>>> by_budget;
  for (const CaseResult& c : data.cases) {
    if (c.status != "ok" || c.config.rfind("kv=", 0) != 0) continue;
    auto acc = c.metric_value("recall_accuracy");
    if (!acc || !std::isfinite(*acc)) continue;
    std::string budget = config_option(c.config, "budget");
    by_budget[budget.empty() ? "none" : budget][c.config][case_key(c)] = &c;
  }
  std::vector<KvBudget> out;
  for (auto& [budget, configs] : by_budget) {
    KvBudget b;
    b.budget = budget;
    std::set<CaseKey> any, shared;
    bool first = true;
    for (auto& [config, cases] : configs) {
      std::set<CaseKey> mine;
      for (auto& [k, c] : cases) mine.insert(k), any.insert(k);
      if (first) shared = mine;
      else {
        std::set<CaseKey> both;
        std::set_intersection(shared.begin(), shared.end(), mine.begin(), mine.end(),
                              std::inserter(both, both.end()));
        shared = std::move(both);
      }
      first = false;
    }
    b.cases = shared.size();
    b.excluded = any.size() - shared.size();
    if (!shared.empty()) {
      for (auto& [config, cases] : configs) {
        KvCandidate k;
        k.config = config;
        k.method = method_of(config);
        double mass = 0;
        for (const CaseKey& key : shared) {
          const CaseResult* c = cases.at(key);
          k.accuracy += *c->metric_value("recall_accuracy");
          if (auto m = c->metric_value("attention_mass_kept"); m && std::isfinite(*m)) mass += *m, ++k.mass_cases;
        }
        k.accuracy /= static_cast<double>(shared.size());
        if (k.mass_cases) k.mass_kept = mass / static_cast<double>(k.mass_cases);
        b.candidates.push_back(std::move(k));
      }
      std::stable_sort(b.candidates.begin(), b.candidates.end(), [](const KvCandidate& x, const KvCandidate& y) {
        return std::make_pair(x.accuracy, x.mass_kept.value_or(-1)) >
               std::make_pair(y.accuracy, y.mass_kept.value_or(-1));
      });
    }
    out.push_back(std::move(b));
  }
  std::stable_sort(out.begin(), out.end(), [](const KvBudget& a, const KvBudget& b) {
    if ((a.budget == "none") != (b.budget == "none")) return b.budget == "none";
    return budget_less(a.budget, b.budget);
  });
  return out;
}

std::string render_kv_answer(const std::vector<KvBudget>& budgets) {
  std::string out = "<h3 id=\"answer-kv\">Best KV method per budget</h3>";
  if (budgets.empty())
    return out + "<p class=\"none note\">No KV-method recall case (config \"kv=...\" with "
                 "recall_accuracy) in this run.</p>";
  out += "<ul class=\"answer\">";
  for (const KvBudget& b : budgets) {
    const std::string name = b.budget == "none" ? std::string("Without a budget")
                                                : "Budget " + html_escape(b.budget);
    if (b.candidates.empty()) {
      out += fmt::format("<li>{}: its configurations share no case, so none is ranked.</li>", name);
      continue;
    }
    const KvCandidate& best = b.candidates.front();
    std::string line = fmt::format("<li>{}: <b class=\"mono\">{}</b> is best with {} recall accuracy",
                                   name, html_escape(best.method), accuracy_text(best.accuracy));
    if (best.mass_kept) line += fmt::format(" and {:.3f} attention mass kept", *best.mass_kept);
    line += fmt::format(" over {} case{}", b.cases, b.cases == 1 ? "" : "s");
    if (b.candidates.size() > 1)
      line += fmt::format(", ahead of <span class=\"mono\">{}</span> ({})",
                          html_escape(b.candidates[1].method), accuracy_text(b.candidates[1].accuracy));
    else
      line += " (the only method at this budget)";
    if (b.excluded)
      line += fmt::format("; {} case{} not run by every method left out", b.excluded, b.excluded == 1 ? "" : "s");
    out += line + ".</li>";
  }
  out += "</ul><table class=\"answers-kv sortable\"><thead><tr><th>Budget</th><th>Method</th>"
         "<th>Config</th><th class=\"num\">Accuracy</th><th class=\"num\">Mass kept</th>"
         "<th class=\"num\">Cases</th></tr></thead><tbody>";
  for (const KvBudget& b : budgets)
    for (size_t i = 0; i < b.candidates.size(); ++i) {
      const KvCandidate& k = b.candidates[i];
      out += fmt::format(
          "<tr{}><td class=\"num\">{}</td><td>{}{}</td><td class=\"mono\">{}</td><td class=\"num{}\" "
          "data-sort=\"{:.6f}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
          i == 0 ? " class=\"best\"" : "", html_escape(b.budget), color_swatch(k.method),
          html_escape(k.method), html_escape(k.config), i == 0 ? " best" : "", k.accuracy,
          accuracy_text(k.accuracy),
          k.mass_kept ? fmt::format("{:.3f}", *k.mass_kept) : "<span class=\"none\">\xE2\x80\x94</span>",
          b.cases);
    }
  return out + "</tbody></table>";
}

}  // namespace attnbench::reports
