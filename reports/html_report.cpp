#include "html_report.h"

#include <filesystem>

#include "atomic_write.h"
#include "html_page.h"
#include "noise_check.h"
#include "report_data.h"

namespace attnbench::reports {

void write_html_report(const std::string& db_path, std::optional<int64_t> run_id,
                       const std::string& out_path) {
  HtmlReportOptions options;
  options.run_id = run_id;
  write_html_report(db_path, options, out_path);
}

RunData load_report_run(const std::string& db_path, const HtmlReportOptions& options) {
  return options.run_ids.empty() ? load_run(db_path, options.run_id)
                                 : load_runs(db_path, options.run_ids, options.campaign);
}

void write_html_report(const std::string& db_path, const HtmlReportOptions& options,
                       const std::string& out_path) {
  // Load fully before touching the output: a bad database leaves no file behind.
  RunData data = load_report_run(db_path, options);
  std::optional<RunData> baseline;
  std::optional<RunComparison> comparison;
  if (options.baseline_run_id || !options.baseline_run_ids.empty()) {
    const std::string& base_db =
        options.baseline_db_path.empty() ? db_path : options.baseline_db_path;
    baseline = options.baseline_run_ids.empty()
                   ? load_run(base_db, options.baseline_run_id)
                   : load_runs(base_db, options.baseline_run_ids, options.baseline_campaign);
    comparison = compare_runs(*baseline, data, options.time_threshold);
  }
  // The A/A check of each run, at the threshold the comparison uses.
  NoiseCheck own_noise = aa_noise_check(data, options.time_threshold);
  std::optional<NoiseCheck> base_noise;
  if (baseline) base_noise = aa_noise_check(*baseline, options.time_threshold);
  std::string page = render_html_page(data, std::filesystem::path(db_path).filename().string(),
                                      comparison ? &*comparison : nullptr, &own_noise,
                                      base_noise ? &*base_noise : nullptr);
  write_file_atomically(out_path, page);
}

}  // namespace attnbench::reports
