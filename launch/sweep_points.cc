// Expansion of a sweep spec into numbered points, and the --dry-run table.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "base/error.h"
#include "launch/sweep_internal.h"
#include "launch/sweep_spec.h"

namespace agreid::launch {
namespace {

// splitmix64: a small, portable generator, so a sweep draws the same points everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)

 private:
  uint64_t state_;
};

std::string distributionName(SweepDistribution d) {
  switch (d) {
    case SweepDistribution::kGrid:
      return "grid";
    case SweepDistribution::kUniform:
      return "uniform";
    case SweepDistribution::kLogUniform:
      return "log_uniform";
    case SweepDistribution::kChoice:
      return "choice";
  }
  return "?";
}

std::string drawValue(const SweepParam& p, SplitMix64& rng) {
  const double u = rng.uniform01();
  if (p.distribution == SweepDistribution::kChoice) {
    const size_t i = std::min(p.values.size() - 1, static_cast<size_t>(u * p.values.size()));
    return p.values[i];
  }
  double v = p.distribution == SweepDistribution::kUniform
                 ? p.lo + u * (p.hi - p.lo)
                 : std::exp(std::log(p.lo) + u * (std::log(p.hi) - std::log(p.lo)));
  v = std::clamp(v, p.lo, p.hi);
  if (p.integer) return std::to_string(std::llround(v));
  // Six significant digits keep tables readable; the value actually used is the printed one.
  return sweepFormatDouble(
      std::clamp(std::strtod(sweepFormatDouble(v, 6).c_str(), nullptr), p.lo, p.hi));
}
}  // namespace

std::vector<SweepPoint> expandSweep(const SweepSpec& spec) {
  if (sweepPointCount(spec) > kMaxSweepPoints) {
    throw InputError(spec.path + ": the sweep has more than " + std::to_string(kMaxSweepPoints) +
                     " points");
  }
  // Grid combinations (odometer, last key fastest).
  std::vector<std::vector<size_t>> combos(1);
  for (const auto& p : spec.grid) {
    std::vector<std::vector<size_t>> next;
    for (const auto& c : combos) {
      for (size_t i = 0; i < p.values.size(); ++i) {
        next.push_back(c);
        next.back().push_back(i);
      }
    }
    combos = std::move(next);
  }
  const int64_t draws = spec.random.empty() ? 1 : spec.samples;
  const int64_t total = static_cast<int64_t>(combos.size()) * draws;
  const int width = std::max<int>(3, static_cast<int>(std::to_string(total - 1).size()));
  SplitMix64 rng(spec.seed);
  std::vector<SweepPoint> points;
  for (const auto& combo : combos) {
    for (int64_t d = 0; d < draws; ++d) {
      SweepPoint pt;
      pt.index = static_cast<int64_t>(points.size());
      std::string num = std::to_string(pt.index);
      num.insert(0, static_cast<size_t>(width) - std::min<size_t>(width, num.size()), '0');
      pt.out_dir = spec.dir + "/runs/" + num;
      pt.sets.push_back("run.out_dir=" + pt.out_dir);
      if (!spec.cache_dir_given) pt.sets.push_back("stage1.cache_dir=" + spec.dir + "/cache");
      for (size_t g = 0; g < spec.grid.size(); ++g) {
        pt.params.emplace_back(spec.grid[g].key, spec.grid[g].values[combo[g]]);
      }
      for (const auto& r : spec.random) pt.params.emplace_back(r.key, drawValue(r, rng));
      for (const auto& [k, v] : pt.params) pt.sets.push_back(k + "=" + v);
      std::vector<std::string> all = spec.sets;
      all.insert(all.end(), pt.sets.begin(), pt.sets.end());
      checkSweepConfig(spec, all, spec.path + ": point " + std::to_string(pt.index));
      points.push_back(std::move(pt));
    }
  }
  return points;
}

std::string describeSweep(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  std::ostringstream os;
  os << "sweep " << spec.name << ": " << points.size() << " points";
  if (!spec.grid.empty()) os << ", grid of " << spec.grid.size() << " keys";
  if (!spec.random.empty()) os << ", " << spec.samples << " random draws";
  os << "\n  base config: " << (spec.base_config.empty() ? "(defaults)" : spec.base_config)
     << "\n  sweep folder: " << spec.dir << "\n  sorted by: " << spec.metric << " (" << spec.mode
     << ")\n";
  for (const auto* params : {&spec.grid, &spec.random}) {
    for (const auto& p : *params) {
      os << "  " << p.key << ": " << distributionName(p.distribution);
      if (p.distribution == SweepDistribution::kUniform ||
          p.distribution == SweepDistribution::kLogUniform) {
        os << " [" << sweepFormatDouble(p.lo) << ", " << sweepFormatDouble(p.hi) << "]";
      } else {
        os << " of " << p.values.size();
      }
      os << "\n";
    }
  }
  // Column widths.
  std::vector<std::string> header = {"#"};
  for (const auto& [k, v] : points.front().params) header.push_back(k);
  std::vector<std::vector<std::string>> rows;
  for (const auto& pt : points) {
    std::vector<std::string> row = {std::to_string(pt.index)};
    for (const auto& [k, v] : pt.params) row.push_back(v);
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    widths[c] = header[c].size();
    for (const auto& r : rows) widths[c] = std::max(widths[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      if (c + 1 < cells.size()) cell.resize(widths[c] + 2, ' ');
      s += cell;
    }
    os << s << "\n";
  };
  os << "\n";
  line(header);
  for (const auto& r : rows) line(r);
  return os.str();
}
}  // namespace agreid::launch
