// Selection functions of the static sparse patterns (see sparse_static_patterns.h).
#include "sparse_static_patterns.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <span>

AB_CPU_NS_BEGIN
namespace {

/// An arithmetic run of keys lo, lo+step, ..., <= hi (inclusive).
struct Run {
  long long lo, hi;
  int step;
};

long long floor_div(long long a, long long b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// Parses a decimal integer in [min, max]; false on anything else.
bool parse_int(const std::string& s, int min, int max, int& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (errno || *end != '\0' || v < min || v > max) return false;
  out = static_cast<int>(v);
  return true;
}

/// Clips `runs` to [lo, hi) and sorts them: the unit runs end up in runs[0, returned
/// count) by their first key, the stepped run (at most one: dilation / head shard) in
/// `stepped` (empty, lo > hi, when there is none).
size_t clip_runs(Run* runs, size_t count, long long lo, long long hi, Run& stepped) {
  stepped = Run{0, -1, 1};
  size_t n = 0;
  for (size_t i = 0; i < count; ++i) {
    Run r = runs[i];
    if (r.hi >= hi) r.hi = hi - 1;
    if (r.lo < lo) r.lo += (lo - r.lo + r.step - 1) / r.step * r.step;
    if (r.lo > r.hi) continue;
    if (r.step > 1) stepped = r;
    else runs[n++] = r;
  }
  std::sort(runs, runs + n, [](const Run& x, const Run& y) { return x.lo < y.lo; });
  return n;
}

/// Emits the sorted union of `runs` restricted to [lo, hi) into out. All runs have
/// step 1 except at most one (dilation / head shard): the unit runs are merged into
/// disjoint intervals and the stepped run fills the gaps between them.
void emit_runs(Run* runs, size_t count, long long lo, long long hi, std::vector<int>& out) {
  Run stepped;
  const size_t n = clip_runs(runs, count, lo, hi, stepped);
  long long next = stepped.lo;  // next key of the stepped run not yet emitted or covered
  auto emit_stepped_below = [&](long long bound) {
    for (; next <= stepped.hi && next < bound; next += stepped.step) out.push_back(static_cast<int>(next));
  };
  for (size_t i = 0; i < n;) {
    long long a = runs[i].lo, b = runs[i].hi;
    for (++i; i < n && runs[i].lo <= b + 1; ++i) b = std::max(b, runs[i].hi);
    emit_stepped_below(a);
    for (long long k = a; k <= b; ++k) out.push_back(static_cast<int>(k));
    if (next <= b) next += (b + 1 - next + stepped.step - 1) / stepped.step * stepped.step;
  }
  emit_stepped_below(LLONG_MAX);
}

const char* const kNeighborhoodOptions[] = {"dilation", "stride", "blocked", "block"};
const char* const kPowerOptions[] = {"local", "block"};
const char* const kStridedOptions[] = {"local"};

}  // namespace

Check parse_static_pattern(const std::string& base, const VariantOptions& options, StaticPattern& out) {
  out = StaticPattern{};
  std::span<const char* const> allowed;
  if (base == "neighborhood" || base == "sliding_window") {
    out.kind = StaticPattern::Kind::kNeighborhood;
    allowed = kNeighborhoodOptions;
  } else if (base == "power") {
    out.kind = StaticPattern::Kind::kPower;
    allowed = kPowerOptions;
  } else if (base == "strided_heads") {
    out.kind = StaticPattern::Kind::kStridedHeads;
    allowed = kStridedOptions;
  } else {
    return {AB_UNSUPPORTED, "'" + base + "' is not a static sparse pattern"};
  }
  for (const auto& [key, value] : options) {
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* o) { return key == o; }) == allowed.end()) {
      std::string names;
      for (const char* o : allowed) names += std::string(names.empty() ? "" : ", ") + o;
      return {AB_INVALID_ARGUMENT, base + ": unknown option '" + key + "' (options: " + names + ")"};
    }
    int* field = key == "dilation" ? &out.dilation : key == "stride" ? &out.stride
               : key == "blocked" ? &out.blocked : key == "block" ? &out.block : &out.local;
    const int min = key == "blocked" || key == "local" ? 0 : 1;
    const int max = key == "blocked" ? 1 : 1 << 24;
    if (!parse_int(value, min, max, *field))
      return {AB_INVALID_ARGUMENT, base + ": option " + key + "='" + value + "' must be an integer in [" +
                                       std::to_string(min) + ", " + std::to_string(max) + "]"};
  }
  if (out.blocked && out.dilation > 1)
    return {AB_UNSUPPORTED, base + ": blocked=1 needs dilation=1 (a dilated window has no contiguous blocks)"};
  return {};
}

namespace {

/// The runs of one row (unit runs plus at most one stepped run, see emit_runs) and the
/// range [lo, hi) they are clipped to; returns the run count (0: the row sees nothing).
size_t row_runs(const StaticPattern& p, const MaskHook& mask, int head, int heads_q, int q_row, int len_q,
                int len_k, Run* runs, long long& lo, long long& hi) {
  const long long pos = static_cast<long long>(q_row) + len_k - len_q;
  size_t nruns = 0;
  lo = 0, hi = len_k;  // emitted range [lo, hi)
  if (p.kind == StaticPattern::Kind::kNeighborhood) {
    // Window in dilated steps around the group centre; only causality and edges clip it.
    if (len_k == 0 || (mask.causal && pos < 0)) return 0;
    const long long s = p.stride, d = p.dilation;
    long long c = mask.causal ? floor_div(pos, s) * s : floor_div(pos, s) * s + (s - 1) / 2;
    c = std::clamp<long long>(c, 0, len_k - 1);
    if (mask.causal) hi = std::min<long long>(hi, pos + 1);
    long long wlo = mask.window_left < 0 ? c % d : c - static_cast<long long>(mask.window_left) * d;
    long long whi = mask.window_right < 0 ? len_k - 1 : c + static_cast<long long>(mask.window_right) * d;
    if (wlo < 0) wlo = c % d;
    if (p.blocked) {
      wlo = floor_div(wlo, p.block) * p.block;
      whi = (floor_div(whi, p.block) + 1) * p.block - 1;
    }
    runs[nruns++] = Run{wlo, whi, static_cast<int>(d)};
  } else {
    const KeyRange r = mask.keys_for(q_row, len_q, len_k);
    if (r.empty()) return 0;
    lo = r.lo;
    hi = r.hi;
    const long long right = mask.causal ? 0 : p.local;
    runs[nruns++] = Run{pos - p.local, pos + right, 1};
    if (p.kind == StaticPattern::Kind::kPower) {
      const long long qb = floor_div(pos, p.block);
      runs[nruns++] = Run{qb * p.block, qb * p.block + p.block - 1, 1};
      for (long long dist = 1; qb - dist >= 0; dist *= 2)
        runs[nruns++] = Run{(qb - dist) * p.block, (qb - dist + 1) * p.block - 1, 1};
    } else {
      const long long first = lo + ((head - lo) % heads_q + heads_q) % heads_q;
      runs[nruns++] = Run{first, hi - 1, heads_q};
    }
  }
  return nruns;
}

/// Runs per row: the local window, the own block and up to 64 power-of-two blocks back.
constexpr size_t kMaxRuns = 72;

}  // namespace

void select_keys(const StaticPattern& p, const MaskHook& mask, int head, int heads_q, int q_row, int len_q,
                 int len_k, std::vector<int>& out) {
  out.clear();
  Run runs[kMaxRuns];
  long long lo = 0, hi = 0;
  const size_t n = row_runs(p, mask, head, heads_q, q_row, len_q, len_k, runs, lo, hi);
  emit_runs(runs, n, lo, hi, out);
}

bool select_block(const StaticPattern& p, const MaskHook& mask, int head, int heads_q, int i0, int step, int rows,
                  int len_q, int len_k, std::vector<int>& key_of, std::vector<KeyRange>* ranges) {
  // Every row's clipped runs: unit runs in `units` (row r's at [first[r], first[r+1])),
  // its stepped run in stepped[r]. The rows' stepped runs must share one lattice.
  thread_local std::vector<Run> units, merged;
  thread_local std::vector<size_t> first;
  thread_local std::vector<Run> stepped;
  units.clear(), first.assign(1, 0), stepped.clear();
  long long lattice_step = 0, phase = 0, smin = LLONG_MAX, smax = LLONG_MIN;
  for (int r = 0; r < rows; ++r) {
    Run runs[kMaxRuns];
    long long lo = 0, hi = 0;
    const size_t count = row_runs(p, mask, head, heads_q, i0 + r * step, len_q, len_k, runs, lo, hi);
    Run st;
    const size_t n = clip_runs(runs, count, lo, hi, st);
    units.insert(units.end(), runs, runs + n);
    first.push_back(units.size());
    stepped.push_back(st);
    if (st.lo > st.hi) continue;
    const long long ph = st.lo % st.step;
    if (lattice_step == 0) lattice_step = st.step, phase = ph;
    else if (st.step != lattice_step || ph != phase) return false;
    smin = std::min(smin, st.lo), smax = std::max(smax, st.hi);
  }

  // The block's unit intervals (sorted, touching ones merged), then its keys: those
  // intervals plus the lattice between the rows' lowest and highest stepped key.
  merged.assign(units.begin(), units.end());
  std::sort(merged.begin(), merged.end(), [](const Run& x, const Run& y) { return x.lo < y.lo; });
  size_t m = 0;
  for (const Run& u : merged) {
    if (m > 0 && u.lo <= merged[m - 1].hi + 1) merged[m - 1].hi = std::max(merged[m - 1].hi, u.hi);
    else merged[m++] = u;
  }
  merged.resize(m);
  {
    thread_local std::vector<Run> all;
    all.assign(merged.begin(), merged.end());
    if (lattice_step > 0) all.push_back(Run{smin, smax, static_cast<int>(lattice_step)});
    key_of.clear();
    emit_runs(all.data(), all.size(), 0, len_k, key_of);
  }
  const auto pos_of = [&](long long key) {
    return static_cast<int>(std::lower_bound(key_of.begin(), key_of.end(), key) - key_of.begin());
  };

  for (int r = 0; r < rows; ++r) {
    std::vector<KeyRange>& out = ranges[r];
    out.clear();
    for (size_t u = first[r]; u < first[r + 1]; ++u) {
      const int a = pos_of(units[u].lo);  // a unit run lies inside one interval: consecutive positions
      out.push_back({a, a + static_cast<int>(units[u].hi - units[u].lo + 1)});
    }
    const Run st = stepped[r];
    if (st.lo <= st.hi) {
      // Lattice keys between the intervals are consecutive positions; inside an
      // interval each lattice key is its own position.
      const long long s = st.step;
      long long cur = st.lo;  // next lattice key of the run not yet placed
      const auto lattice_gap = [&](long long end) {  // lattice keys in [cur, end]
        if (cur > end) return;
        const long long last = cur + (end - cur) / s * s;
        out.push_back({pos_of(cur), pos_of(last) + 1});
        cur = last + s;
      };
      for (const Run& iv : merged) {
        if (cur > st.hi) break;
        if (iv.hi < cur) continue;
        lattice_gap(std::min(st.hi, iv.lo - 1));
        if (cur < iv.lo) cur += (iv.lo - cur + s - 1) / s * s;
        const int base = pos_of(iv.lo);
        for (; cur <= std::min(st.hi, iv.hi); cur += s) {
          const int at = base + static_cast<int>(cur - iv.lo);
          out.push_back({at, at + 1});
        }
      }
      lattice_gap(st.hi);
    }
    // A row's stepped keys may repeat inside its own unit runs: merge to disjoint ranges.
    std::sort(out.begin(), out.end(), [](const KeyRange& x, const KeyRange& y) { return x.lo < y.lo; });
    size_t k = 0;
    for (const KeyRange& x : out) {
      if (k > 0 && x.lo <= out[k - 1].hi) out[k - 1].hi = std::max(out[k - 1].hi, x.hi);
      else out[k++] = x;
    }
    out.resize(k);
  }
  return true;
}

double selected_pairs(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k) {
  // Only strided_heads depends on the head; the other patterns count head 0 once.
  const bool per_head = p.kind == StaticPattern::Kind::kStridedHeads;
  std::vector<int> keys;
  double pairs = 0;
  for (int h = 0; h < (per_head ? heads_q : 1); ++h)
    for (int i = 0; i < len_q; ++i) {
      select_keys(p, mask, h, heads_q, i, len_q, len_k, keys);
      pairs += static_cast<double>(keys.size());
    }
  return per_head ? pairs : pairs * heads_q;
}

double selection_density(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k) {
  const MaskHook dense{mask.causal, -1, -1};
  double dense_pairs = 0;
  for (int i = 0; i < len_q; ++i) {
    const KeyRange r = dense.keys_for(i, len_q, len_k);
    dense_pairs += r.empty() ? 0 : r.hi - r.lo;
  }
  dense_pairs *= heads_q;
  return dense_pairs > 0 ? selected_pairs(p, mask, heads_q, len_q, len_k) / dense_pairs : 1.0;
}

double predicted_speedup(const StaticPattern& p, const MaskHook& mask, int heads_q, int len_q, int len_k) {
  const double d = selection_density(p, mask, heads_q, len_q, len_k);
  return d > 0 ? 1.0 / d : 0.0;
}

AB_CPU_NS_END
