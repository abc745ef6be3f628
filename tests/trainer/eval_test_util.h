// Shared by the evaluation tests: synthetic query/gallery feature sets with the cases the protocol
// must handle, and a runner for the NumPy reference (bench/eval_reference.py).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"

namespace agreid::testing {

struct SyntheticEvalOptions {
  uint64_t seed = 1;
  int64_t identities = 20;
  int64_t queries_per_identity = 2;
  int64_t gallery_per_identity = 5;
  int64_t distractors = 15;  // gallery items with pid 0
  int64_t cameras = 3;
  int64_t dim = 16;
  double noise = 0.8;
  // Features with exactly four +-1 entries: L2-normalised values and all distances are exact, so
  // many distances tie exactly (the tie-breaking rule is exercised).
  bool quantised = false;
  // Adds, next to every identity's gallery items, a distractor that copies one of them with a
  // single element moved by one float ulp: its distance to a query differs from the positive's by
  // far less than float32 rounding of a distance (exercises the exact float64 recomputation).
  bool near_duplicates = false;
};

struct SyntheticEval {
  trainer::FeatureSet query;
  trainer::FeatureSet gallery;
};

// Besides the identities: a query whose pid is absent from the gallery and a query whose only
// gallery matches share its camera (both are skipped by the protocol), and an occluded flag.
SyntheticEval makeSyntheticEval(const SyntheticEvalOptions& options);

// Runs bench/eval_reference.py on the two files; returns its "key value" lines. `extra` is
// appended to the command line. Fails the calling test (ADD_FAILURE) and returns {} on error.
std::map<std::string, double> runEvalReference(const std::string& query_file,
                                               const std::string& gallery_file,
                                               const std::string& extra = "");

// True when /usr/bin/python3 has numpy and h5py.
bool haveNumpyH5py();

// Every metric of `a` and `b` agrees within `tol` (NaN == NaN).
void expectMetricsNear(const trainer::RankingMetrics& a, const trainer::RankingMetrics& b,
                       double tol);

// Compares C++ metrics with reference lines `<prefix>.mAP`, `.mINP`, `.num_valid_query`,
// `.cmcK`.
void expectMatchesReference(const trainer::RankingMetrics& m,
                            const std::map<std::string, double>& ref, const std::string& prefix,
                            double tol);

}  // namespace agreid::testing
