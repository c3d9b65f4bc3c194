#include "prefix_shared.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <climits>

#include "attnbench/attention_hooks.h"
#include "chunk_partials.h"
#include "topk_common.h"

AB_CPU_NS_BEGIN
namespace {

constexpr int kMaxQueries = 16;
constexpr int kMaxPhase1Rows = 64;  // query rows per phase-1 item (sequences grouped up to this)

struct Options {
  int prefix = -1, chunk = 512;
};

Check refuse(const std::string& why) { return {AB_UNSUPPORTED, "prefix_shared: " + why}; }

Check parse(const VariantOptions& options, Options& o) {
  int v[2];
  if (Check c = topk::parse_int_options("prefix_shared", options,
                                        {{"prefix", -1, 0, INT_MAX}, {"chunk", 512, 1, 1 << 24}}, v);
      !c.ok())
    return c;
  o.prefix = v[0];
  o.chunk = round_chunk(v[1]);
  if (o.prefix < 0) return refuse("option prefix=N (shared prefix length) is required");
  return {};
}

void run_all(const ab_attention_args& a, const Options& opt) {
  const int rows_max = (a.heads_q / a.heads_kv) * a.len_q;
  const int prefix = std::min(opt.prefix, a.len_k), chunk = opt.chunk;
  const int n_pre = (prefix + chunk - 1) / chunk;
  const int n_suf = (a.len_k - prefix + chunk - 1) / chunk;
  // Phase 1 items: (KV head, prefix chunk, group of sequences of <= kMaxPhase1Rows rows).
  const int seqs_per = std::max(1, kMaxPhase1Rows / rows_max);
  const int n_bgroups = (a.batch + seqs_per - 1) / seqs_per;
  const size_t items1 = static_cast<size_t>(a.heads_kv) * n_pre * n_bgroups;
  const size_t items2 = static_cast<size_t>(a.batch) * a.heads_kv * n_suf;
  const Partials P = alloc_partials(a, std::max(1, n_pre + n_suf));
  if (n_pre + n_suf == 0) clear_partials(a, P);  // len_k == 0: no key anywhere
  const MaskHook mask{a.causal, -1, -1};          // windows are refused unless they hide nothing
  tbb::parallel_for(tbb::blocked_range<size_t>(0, items1 + items2, 1), [&](const tbb::blocked_range<size_t>& rg) {
    for (size_t it = rg.begin(); it != rg.end(); ++it) {
      if (it < items1) {  // shared prefix: keys of batch 0, rows of a group of sequences
        const int bg = static_cast<int>(it % n_bgroups), c = static_cast<int>(it / n_bgroups % n_pre);
        const int hk = static_cast<int>(it / n_bgroups / n_pre);
        const int b0 = bg * seqs_per, b1 = std::min(a.batch, b0 + seqs_per);
        const int c0 = c * chunk, c1 = std::min(prefix, c0 + chunk);
        attend_chunk(a, mask, 0, hk, c0, c1, b0, b1, c, P);
      } else {  // own suffix of one sequence
        const size_t j = it - items1;
        const int c = static_cast<int>(j % n_suf), bh = static_cast<int>(j / n_suf);
        const int b = bh / a.heads_kv, hk = bh % a.heads_kv;
        const int c0 = prefix + c * chunk, c1 = std::min(a.len_k, c0 + chunk);
        attend_chunk(a, mask, b, hk, c0, c1, b, b + 1, n_pre + c, P);
      }
    }
  });
  tbb::parallel_for(0, a.batch * a.heads_kv, [&](int bh) { merge(a, bh / a.heads_kv, bh % a.heads_kv, P); });
}

}  // namespace

Check prefix_shared_supports(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  if (Check c = parse(options, o); !c.ok()) return c;
  if (o.prefix > a.len_k)
    return refuse("prefix=" + std::to_string(o.prefix) + " is larger than len_k (" + std::to_string(a.len_k) + ")");
  if (a.len_q > kMaxQueries)
    return refuse("handles len_q <= " + std::to_string(kMaxQueries) + " (got " + std::to_string(a.len_q) +
                  "); it is a decode-time kernel");
  if (a.seq_len_q || a.seq_len_k)
    return refuse("per-sequence lengths (varlen) are not supported: the shared prefix needs one len_k");
  const MaskHook plain{a.causal, -1, -1}, windowed{a.causal, a.window_left, a.window_right};
  for (int i = 0; i < a.len_q; ++i) {
    const KeyRange x = plain.keys_for(i, a.len_q, a.len_k), y = windowed.keys_for(i, a.len_q, a.len_k);
    if (x.lo != y.lo || x.hi != y.hi) return refuse("sliding windows are not supported (window hides keys)");
  }
  return {};
}

void prefix_shared_run(const ab_attention_args& a, const VariantOptions& options) {
  Options o;
  parse(options, o);
  if (a.batch <= 0 || a.len_q <= 0) return;
  run_all(a, o);
}

AB_CPU_NS_END
