#include "recall_tasks.h"

#include <algorithm>
#include <stdexcept>

#include "counter_rng.h"

namespace attnbench::recall {

std::string task_name(RecallTask t) {
  switch (t) {
    case RecallTask::single_needle: return "single_needle";
    case RecallTask::multi_key: return "multi_key";
    case RecallTask::multi_value: return "multi_value";
    case RecallTask::multi_query: return "multi_query";
    case RecallTask::passkey: return "passkey";
    case RecallTask::mqar: return "mqar";
  }
  return "?";
}

RecallTask parse_task(const std::string& name) {
  for (auto t : {RecallTask::single_needle, RecallTask::multi_key, RecallTask::multi_value,
                 RecallTask::multi_query, RecallTask::passkey, RecallTask::mqar})
    if (task_name(t) == name) return t;
  throw std::invalid_argument("recall: unknown task '" + name + "'");
}

RecallLayout make_layout(const TaskParams& p, RecallKnobs& kn) {
  RecallLayout lay;
  lay.len_k = p.len_k;
  // Code words differ per needle: needle n gets code word (n * 7 + seed) mod C, so the
  // answer is not the same index in every case.
  const auto cw = [&](int n) { return static_cast<int32_t>((n * 7 + kn.seed % 13) % kn.n_codewords); };
  switch (p.task) {
    case RecallTask::single_needle:
    case RecallTask::passkey:
      lay.n_directions = 1;
      lay.needles.push_back({p.depth, 0, cw(0)});
      lay.questions.push_back({0, {cw(0)}});
      if (p.task == RecallTask::passkey) kn.haystack_period = p.passkey_period, kn.n_distractors = 0;
      break;
    case RecallTask::multi_key:
    case RecallTask::multi_query: {
      const int n = std::max(1, p.n_needles);
      kn.n_codewords = std::max(kn.n_codewords, 8 * n);
      lay.n_directions = n;
      for (int i = 0; i < n; ++i) {
        // The asked needle (0) sits at `depth`; the others spread evenly.
        const double dep = i == 0 ? p.depth : static_cast<double>(i) / n;
        lay.needles.push_back({dep, i, cw(i)});
        if (p.task == RecallTask::multi_query || i == 0) lay.questions.push_back({i, {cw(i)}});
      }
      break;
    }
    case RecallTask::multi_value: {
      const int n = std::max(1, p.n_values);
      lay.n_directions = 1;
      std::vector<int32_t> exp;
      for (int i = 0; i < n; ++i) {
        lay.needles.push_back({std::min(1.0, p.depth + 0.1 * i), 0, cw(i)});
        exp.push_back(cw(i));
      }
      lay.questions.push_back({0, exp});
      break;
    }
    case RecallTask::mqar: {
      const int n = std::max(1, p.n_pairs);
      kn.n_codewords = std::max(kn.n_codewords, n);
      kn.n_distractors = 0;  // the other pairs are the distractors
      lay.n_directions = n;
      for (int i = 0; i < n; ++i) lay.needles.push_back({(i + 0.5) / n, i, i});
      const gen::StreamKey s{kn.seed, kn.case_hash, 0x6d716172ull};
      std::vector<int32_t> asked;
      for (uint64_t c = 0; static_cast<int>(asked.size()) < std::min(n, p.n_queries); ++c) {
        const int a = static_cast<int>(s.uniform(c) * n);
        if (std::find(asked.begin(), asked.end(), a) == asked.end()) asked.push_back(a);
      }
      for (int a : asked) lay.questions.push_back({a, {a}});
      break;
    }
  }
  return lay;
}

RecallCase make_task(const TaskParams& p, RecallKnobs knobs) {
  const RecallLayout lay = make_layout(p, knobs);
  return generate_recall(knobs, lay);
}

std::vector<GridCell> depth_grid(const std::vector<int32_t>& lengths, int32_t n_depths) {
  std::vector<GridCell> g;
  const int nd = std::max(2, n_depths);
  for (int32_t L : lengths)
    for (int i = 0; i < nd; ++i) g.push_back({L, static_cast<double>(i) / (nd - 1)});
  return g;
}

}  // namespace attnbench::recall
