#include "html_report.h"

#include <filesystem>

#include "atomic_write.h"
#include "html_page.h"
#include "report_data.h"

namespace attnbench::reports {

void write_html_report(const std::string& db_path, std::optional<int64_t> run_id,
                       const std::string& out_path) {
  // Load fully before touching the output: a bad database leaves no file behind.
  RunData data = load_run(db_path, run_id);
  std::string page = render_html_page(data, std::filesystem::path(db_path).filename().string());
  write_file_atomically(out_path, page);
}

}  // namespace attnbench::reports
