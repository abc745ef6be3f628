// Scoring of the plain (not re-ranked) protocol at the speed of the distance matrix product
// (metrics.h; numbers in docs/benchmarks.md, "Evaluation").
//
// The query x gallery distances are never held whole, nor even one query row of them. Queries
// are cut into blocks of at most `query_rows` (an equal number per thread); every thread takes the
// next block (dynamic scheduling), and for each tile of `gallery_cols` gallery rows computes the
// float32 dot products of the tile (one single-threaded SGEMM into a buffer sized for the cache)
// and scans them at once (QueryRanking: one histogram increment per distance; the few near a
// positive's distance are placed individually). So all cores run matrix products, and the ranking
// reads each distance from the cache right after the product wrote it.
//
// Exactness. The float32 distance of a (query, gallery) pair is within errorBound() of its
// float64 distance, exact(q, g): rows divided by their L2 norm (at least 1e-12) in float64, then
// |q|^2 + |g|^2 - 2 q.g, each sum in a fixed order of eight partial sums. Pairs too close to a
// positive's distance to be ranked from float32 are placed with refined() (the float32 rows'
// inner product in float64, within refineBound()) and, if still too close, with exact(), so every
// result is a function of the float64 distances only: the same for any tile size, thread count
// and number of ranks, and identical vectors are at exactly equal distances (ties broken by
// gallery row).
//
// Threads: at::get_num_threads() (or EvalTiling::threads when lower), through at::parallel_for.
// While scoring, OpenBLAS (when it is the BLAS) is set to one thread, so the threads' products do
// not each start a pool; it is restored after the last concurrent scorer finishes.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "trainer/eval/features_file.h"
#include "trainer/eval/query_ranking.h"

namespace agreid::trainer {

class GalleryIndex;

// How the plain protocol's work is cut; every choice gives the same results.
struct EvalTiling {
  int64_t query_rows = 512;     // query rows per block (also capped by EvalOptions::block_size)
  int64_t gallery_cols = 2048;  // gallery rows per tile: rows x cols floats (4 MB) per thread
  int threads = 0;              // 0: at::get_num_threads(); otherwise at most that
};

class BlockedScorer {
 public:
  // Scores queries [begin, end) of `query` against `gallery` (whose labels `index` holds).
  BlockedScorer(const FeatureSet& query, int64_t begin, int64_t end, const FeatureSet& gallery,
                const GalleryIndex& index, const EvalTiling& tiling);

  // The scores of queries [begin, end), in order. `scored` (may be empty) is called after each
  // block with the number of queries scored so far, from the scoring threads one at a time.
  std::vector<QueryScore> scoreAll(const std::function<void(int64_t)>& scored = {}) const;

  // The best `top` gallery rows of query `q` (in [begin, end)), junk removed, ordered by (exact
  // distance, row), with their exact distances.
  std::vector<std::pair<double, int64_t>> top(int64_t q, int64_t top) const;

  // The float64 distance of query q (in [begin, end)) and gallery row g.
  double exact(int64_t q, int64_t g) const;
  // Bound on |float32 distance - exact distance|.
  double errorBound() const { return error_bound_; }
  // A closer approximation: the float32 normalised rows' inner product in float64, within
  // refineBound() of exact() (for rows the float32 distance cannot place).
  double refined(int64_t q, int64_t g) const;
  double refineBound() const { return refine_bound_; }

 private:
  void scoreBlock(int64_t q0, int64_t q1, at::Tensor& buffer, QueryScore* out) const;

  const FeatureSet& query_;
  const FeatureSet& gallery_;
  const GalleryIndex& index_;
  int64_t begin_, end_, dim_;
  EvalTiling tiling_;
  double error_bound_ = 0.0, refine_bound_ = 0.0;
  // Queries [begin, end): float64 normalised rows, float32 copies, squared norms.
  std::vector<double> query64_, query_sqnorm_;
  std::vector<float> query_sqnorm32_;
  at::Tensor query32_;
  // Gallery: norms (the float64 rows are recomputed from the stored features when needed),
  // squared norms, float32 normalised rows.
  std::vector<double> gallery_norm_, gallery_sqnorm_;
  std::vector<float> gallery_sqnorm32_;
  at::Tensor gallery32_;
};

}  // namespace agreid::trainer
