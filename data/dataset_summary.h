// Per-split statistics of a dataset and the human-readable description printed by
// `agreid inspect` (launch/commands_inspect.cc) and `agreid import`.
//
// Pure functions over in-memory metadata; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace agreid::data {

struct SplitStats {
  int64_t images = 0;
  int64_t identities = 0;   // distinct pids, the distractor pid 0 not counted
  int64_t distractors = 0;  // images of pid 0 (Market's "0000" background and distractors)
  int64_t cameras = 0;      // distinct camids
  int64_t occluded = 0;     // images flagged occluded
};

// Indexed by static_cast<int>(Split). Uses pid, camid, split and occluded of `samples`.
std::array<SplitStats, 3> splitStats(const SampleTable& samples);

// One row per split: "  train      12936 images    751 identities   6 cameras   0.0% occluded".
std::string formatSplitStats(const std::array<SplitStats, 3>& stats);

// Per attribute, the mean visible fraction of its body region over occluded and over holistic
// images ("    upper_colour     0.62 / 1.00"), under a heading line; "" when the file has no
// visibility.
std::string formatVisibility(const DatasetReader& reader);

// Format version, name, source, checksum, sample count, per-split stats, attribute and caption
// presence, visibility means. Multi-line, ends with a newline.
std::string describeDataset(const DatasetReader& reader);

}  // namespace agreid::data
