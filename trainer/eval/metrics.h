// Re-ID evaluation (method.md §1.6, design.md §4.5): distances, the standard protocol and the
// metrics, computed in tiles so the query x gallery matrix is never held whole.
//
// Protocol. Features are L2-normalised; the distance is the squared Euclidean distance
// |q|^2 + |g|^2 - 2 q.g with float64 semantics (so that rankings do not depend on the BLAS
// summation order): tiles are computed in float32, and every entry whose float32 value is within
// the rounding-error bound of a positive's distance is recomputed in float64 (blocked_scoring.h,
// query_ranking.h). For each query the gallery is ranked by (distance, gallery index) -- a stable
// sort, ties broken by the lower gallery index; gallery items with the same pid AND the same camid
// as the query are dropped ("junk"); a query without any remaining match is skipped (not valid).
//   CMC[k]  fraction of valid queries whose first match has rank <= k + 1 (k < max_rank)
//   AP      sum_k precision@k * rel_k / #rel;   mAP = mean AP over valid queries
//   INP     #rel / rank of the hardest positive; mINP = mean INP over valid queries
// Only the ranks of the positives are needed, so each query costs O(G log #rel), not a full sort.
//
// Threads: the plain protocol uses at::get_num_threads() threads (BlockedScorer); results do not
// depend on the thread count or the tiling.
//
// Distribution: `evaluate` must be called by every rank of `comm` with the same inputs (every
// rank holds all query and gallery features). Rank r scores a contiguous share of the queries;
// the per-query results are gathered (allGatherV) and summed in query order on every rank, so
// the result is bit-identical for any number of ranks. `comm` may be null (one process).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "trainer/eval/blocked_scoring.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/query_ranking.h"
#include "trainer/options.h"

namespace agreid {
class Log;
}

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

// Metrics of one set of queries. Rates are fractions in [0, 1]; they are NaN when no query is
// valid.
struct RankingMetrics {
  double map = 0.0;
  double minp = 0.0;
  std::vector<double> cmc;  // cmc[k]: match within rank k + 1
  int64_t num_query = 0;
  int64_t num_valid_query = 0;
  double rank(int64_t k) const;  // CMC at rank k (1-based); NaN when k > cmc.size()
};

// The top of one query's ranking (junk removed), for ranked-list images.
struct RankedList {
  int64_t query = 0;             // row in the query set
  std::vector<int64_t> gallery;  // rows in the gallery set, best first
  std::vector<double> distance;  // their distances
  double ap = 0.0;               // the query's AP (set by evaluate; NaN: the query has no match)
};

struct EvalResults {
  RankingMetrics all;
  // Present when the query set carries the occluded flag (and the subset is not empty).
  std::optional<RankingMetrics> holistic;
  std::optional<RankingMetrics> occluded;
  int64_t num_gallery = 0;
  bool reranked = false;
  std::vector<RankedList> ranked;  // for the queries an EvaluateRequest asked for
};

// The queries whose top `record_top` gallery items evaluate returns as ranked lists: the rows in
// `record` (returned in row order), or, when `record_worst` > 0, that many queries with a match
// of lowest AP (ties: the lower row first; returned worst first). Both at once is a bug.
struct EvaluateRequest {
  std::vector<int64_t> record;
  int64_t record_worst = 0;
  int64_t record_top = 10;
  // Progress of this rank's share (queries scored, share size), from the scoring threads one
  // call at a time; may be empty. Both protocols report per block of queries.
  std::function<void(int64_t done, int64_t total)> progress;
  // With eval.rerank, progress of the nearest-neighbour pass that precedes the scoring (rows of
  // this rank's share of query + gallery samples); may be empty.
  std::function<void(int64_t done, int64_t total)> neighbours_progress;
};

// Sets request.progress ("eval scoring", queries) and, with options.rerank,
// request.neighbours_progress ("eval re-ranking neighbours", samples) to report through `log`.
void reportProgress(EvaluateRequest& request, const EvalOptions& options, const Log& log);

// Every rank of `comm` calls with identical arguments (see the header comment). Throws InputError
// when the feature dimensions differ, the query or gallery set is empty, or re-ranking is asked
// for above `options.rerank_max_samples`.
// `tiling` cuts the plain protocol's work (the results do not depend on it).
EvalResults evaluate(const FeatureSet& query, const FeatureSet& gallery, const EvalOptions& options,
                     comm::Communicator* comm, const EvaluateRequest& request = {},
                     const EvalTiling& tiling = {});

// --- Building blocks (exposed for the re-ranker and the tests) --------------------------------

// Rows divided by their L2 norm (at least 1e-12), as float64.
at::Tensor normalizeRows(const at::Tensor& features);

// Squared Euclidean distances [A, B] (float64) between rows of `a` and `b`; `b_sqnorm` holds
// the squared norms of the rows of `b`.
at::Tensor squaredDistances(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_sqnorm);

// Gallery labels with an index from pid to gallery rows, built once per evaluation.
class GalleryIndex {
 public:
  GalleryIndex(const std::vector<int64_t>& pid, const std::vector<int64_t>& camid);
  // Scores one query from its distances to every gallery item (`distances` has size()).
  QueryScore score(const double* distances, int64_t pid, int64_t camid) const;
  // Rows with `pid`, ascending.
  std::vector<int64_t> rowsOf(int64_t pid) const;
  // The positives of a query: rows with `pid` and a camid other than `camid`, ascending.
  std::vector<int64_t> positives(int64_t pid, int64_t camid) const;
  // The best `top` gallery rows of one query, junk removed, ordered by (distance, index).
  RankedList top(const double* distances, int64_t pid, int64_t camid, int64_t top) const;
  int64_t size() const { return static_cast<int64_t>(pid_.size()); }

 private:
  const std::vector<int64_t>& pid_;
  const std::vector<int64_t>& camid_;
  std::vector<int64_t> by_pid_rows_;     // gallery rows grouped by pid, ascending within a pid
  std::vector<int64_t> by_pid_pids_;     // sorted distinct pids
  std::vector<int64_t> by_pid_offsets_;  // size pids + 1
};

// Contiguous share [begin, end) of `n` items for rank `rank` of `world` (the first n % world
// ranks take one more).
std::pair<int64_t, int64_t> shareOf(int64_t n, int rank, int world);

}  // namespace agreid::trainer
