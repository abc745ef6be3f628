// Hyper-parameter sweep specifications: parsing, validation against the configuration schema,
// and expansion into numbered points (docs/slurm.md, "Sweeps").
//
// A spec is a TOML file:
//
//   [sweep]
//   base_config = "../demo.toml"   # relative to the spec file; absent: the defaults
//   dir = "runs/sweeps/stage2_lr"  # the sweep folder (relative to the working directory)
//   seed = 0                       # random draws
//   metric = "mAP"                 # results.json key the table is sorted by
//   mode = "max"                   # "max" (best first = largest) or "min"
//   max_parallel = 4               # array tasks running at once (--array=0-(N-1)%4)
//   sbatch = ["--time=02:00:00"]   # extra sbatch options
//   set = ["stage2.epochs=30"]     # overrides shared by every point
//
//   [grid]                         # cartesian product of the lists
//   "stage2.lr" = [5e-6, 1e-5]
//
//   [random]                       # `samples` draws (per grid point, when both are given)
//   samples = 4
//   "stage2.beta" = { log_uniform = [0.001, 0.1] }
//   "stage2.margin" = { uniform = [0.2, 0.5] }
//   "stage2.mask" = { choice = ["otsu", "none"] }
//
// Keys may be written quoted ("stage2.lr") or as TOML dotted keys / sub-tables. Every key and
// every value is checked against the configuration schema (launch/config.h) before anything is
// written or submitted; failures throw InputError with one line naming the spec file (and line).
//
// Thread-safety: plain functions over values; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace agreid::launch {

enum class SweepDistribution { kGrid, kUniform, kLogUniform, kChoice };

// One swept key.
struct SweepParam {
  std::string key;   // "section.name"
  int64_t line = 0;  // line in the spec file
  SweepDistribution distribution = SweepDistribution::kGrid;
  std::vector<std::string> values;  // kGrid, kChoice: each value as a TOML literal
  double lo = 0.0;                  // kUniform, kLogUniform: inclusive range
  double hi = 0.0;
  bool integer = false;  // the key holds an integer: draws are rounded
};

struct SweepSpec {
  std::string path;         // the spec file
  std::string name;         // the spec file's stem
  std::string base_config;  // absolute path, or empty for the defaults
  std::string dir;          // the sweep folder, absolute
  uint64_t seed = 0;
  std::string metric = "mAP";
  std::string mode = "max";
  int64_t max_parallel = 4;
  std::vector<std::string> sbatch;  // extra sbatch options
  std::vector<std::string> sets;    // section.key=value overrides shared by every point
  std::vector<SweepParam> grid;     // in file order
  std::vector<SweepParam> random;   // in file order
  int64_t samples = 0;              // random draws per grid point
  bool cache_dir_given = false;     // stage1.cache_dir set by the base config, `set` or a param
};

// One run of the sweep.
struct SweepPoint {
  int64_t index = 0;
  std::string out_dir;  // run.out_dir of the point
  // Every override of the point (on top of the sweep folder's base.toml), `section.key=value`:
  // run.out_dir, stage1.cache_dir (unless the spec sets it), then the swept keys.
  std::vector<std::string> sets;
  std::vector<std::pair<std::string, std::string>> params;  // the swept keys and their values
};

// The most points one sweep may have: a SLURM job array beyond this is a mistake more often than a
// plan (SLURM's own default MaxArraySize is 1001), and every point is validated when planned.
inline constexpr int64_t kMaxSweepPoints = 10000;

// The number of points of `spec` (grid product times draws), saturating at kMaxSweepPoints + 1.
int64_t sweepPointCount(const SweepSpec& spec);

// Reads and checks `path`. `dir_override` (non-empty) replaces [sweep] dir. Throws InputError,
// also when the sweep has more than kMaxSweepPoints points.
SweepSpec loadSweepSpec(const std::string& path, const std::string& dir_override = "");

// The points of `spec`, numbered from 0: the grid's cartesian product (the last key varies
// fastest), each combined with `samples` random draws when [random] is given. Deterministic in
// spec.seed. Every point's full configuration is loaded and validated; throws InputError naming
// the spec file and the point.
std::vector<SweepPoint> expandSweep(const SweepSpec& spec);

// `s` as a TOML basic string ("..." with escapes), the form `--set key="..."` reads.
std::string tomlBasicString(const std::string& s);

// The numbered table printed by --dry-run.
std::string describeSweep(const SweepSpec& spec, const std::vector<SweepPoint>& points);

}  // namespace agreid::launch
