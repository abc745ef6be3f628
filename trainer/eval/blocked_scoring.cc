#include "trainer/eval/blocked_scoring.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>

#include "base/check.h"
#include "trainer/eval/metrics.h"

namespace agreid::trainer {
namespace {

// The L2 norm of a float row, at least 1e-12 (the divisor of the normalised row).
double rowNorm(const float* x, int64_t dim) {
  double s = 0.0;
  for (int64_t t = 0; t < dim; ++t) s += static_cast<double>(x[t]) * static_cast<double>(x[t]);
  return std::max(std::sqrt(s), 1e-12);
}

}  // namespace

// The two inner products, one clone per instruction set (chosen once per process, so a given
// machine always computes the same float64 distance), each a sum in a fixed order: eight
// interleaved partial sums, added pairwise (fixed, so that a distance does not depend on who
// computes it; interleaved, so that it vectorises).
//   exactDot: sum_t a[t] * (x[t] / norm) in float64: a normalised float64 row with a stored row
//     normalised on the fly.
//   floatDot: sum_t a[t] * b[t] of two float32 rows, in float64 (the products are exact).
__attribute__((target_clones("avx512f", "avx2", "default"))) double exactDot(const double* a,
                                                                             const float* x,
                                                                             double norm,
                                                                             int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += a[t + k] * (static_cast<double>(x[t + k]) / norm);
  }
  for (; t < n; ++t) acc[t % 8] += a[t] * (static_cast<double>(x[t]) / norm);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

__attribute__((target_clones("avx512f", "avx2", "default"))) double floatDot(const float* a,
                                                                             const float* b,
                                                                             int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    for (int k = 0; k < 8; ++k) {
      acc[k] += static_cast<double>(a[t + k]) * static_cast<double>(b[t + k]);
    }
  }
  for (; t < n; ++t) acc[t % 8] += static_cast<double>(a[t]) * static_cast<double>(b[t]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

namespace {

// OpenBLAS set to one thread while at least one scorer runs (see the header); a no-op when the
// BLAS is not OpenBLAS. Process-wide, reference-counted: scorers may run concurrently (ranks as
// threads).
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (state().users++ == 0 && state().get && state().set) {
      state().saved = state().get();
      state().set(1);
    }
  }
  ~SingleThreadedBlas() {
    std::lock_guard<std::mutex> lock(state().mutex);
    if (--state().users == 0 && state().get && state().set) state().set(state().saved);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  struct State {
    std::mutex mutex;
    int users = 0;
    int saved = 1;
    int (*get)() = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    void (*set)(int) = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT,
                                                             "openblas_set_num_threads"));
  };
  static State& state() {
    static State s;
    return s;
  }
};

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

BlockedScorer::BlockedScorer(const FeatureSet& query, int64_t begin, int64_t end,
                             const FeatureSet& gallery, const GalleryIndex& index,
                             const EvalTiling& tiling)
    : query_(query),
      gallery_(gallery),
      index_(index),
      begin_(begin),
      end_(end),
      dim_(query.dim()),
      tiling_(tiling) {
  AGREID_CHECK(tiling.query_rows > 0 && tiling.gallery_cols > 0, "bad evaluation tiling");
  AGREID_CHECK(query.features.is_contiguous() && gallery.features.is_contiguous(),
               "features must be contiguous");
  // Bound on |float32 distance - float64 distance| for rows of norm <= 1 (u = 2^-24): the dot
  // product of the rounded inputs, |fl(q.g) - q.g| <= gamma_D + 2u + u^2 for any summation order
  // (gamma_D = Du / (1 - Du)), scaled by 2; the roundings of the two squared norms (u each) and
  // of the two additions (values <= 3 and <= 4). That is 2(D + 2.2)u + 9u; 2(D + 2)u + 12u leaves
  // 2.6u for the float64 side (~D 2^-53) and underflow.
  const double u = std::ldexp(1.0, -24);
  error_bound_ = 2.0 * (dim_ + 2) * u + 12.0 * u;
  // refined(): only the float32 rounding of the normalised inputs (2u per product, scaled by 2)
  // and float64 sums (D 2^-53 each, values <= 4), with a factor 2 of margin.
  refine_bound_ = 2.0 * (4.0 * u + 4.0 * (dim_ + 2) * std::ldexp(1.0, -53));

  const int64_t n = end - begin, g = gallery.size(), dim = dim_;
  query64_.resize(n * dim);
  query_sqnorm_.resize(n);
  query_sqnorm32_.resize(n);
  query32_ = at::empty({n, dim}, at::kFloat);
  const float* qx = query.features.data_ptr<float>() + begin * dim;
  at::parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = qx + r * dim;
      const double norm = rowNorm(x, dim);
      double* row = query64_.data() + r * dim;
      float* row32 = query32_.data_ptr<float>() + r * dim;
      for (int64_t t = 0; t < dim; ++t) {
        row[t] = static_cast<double>(x[t]) / norm;
        row32[t] = static_cast<float>(row[t]);
      }
      query_sqnorm_[r] = exactDot(row, x, norm, dim);  // as exact() against this very row
      query_sqnorm32_[r] = static_cast<float>(query_sqnorm_[r]);
    }
  });
  gallery_norm_.resize(g);
  gallery_sqnorm_.resize(g);
  gallery_sqnorm32_.resize(g);
  gallery32_ = at::empty({g, dim}, at::kFloat);
  const float* gx = gallery.features.data_ptr<float>();
  at::parallel_for(0, g, 16, [&](int64_t r0, int64_t r1) {
    std::vector<double> row(dim);
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = gx + r * dim;
      const double norm = rowNorm(x, dim);
      gallery_norm_[r] = norm;
      float* row32 = gallery32_.data_ptr<float>() + r * dim;
      for (int64_t t = 0; t < dim; ++t) {
        row[t] = static_cast<double>(x[t]) / norm;
        row32[t] = static_cast<float>(row[t]);
      }
      gallery_sqnorm_[r] = exactDot(row.data(), x, norm, dim);  // as exact() with this row
      gallery_sqnorm32_[r] = static_cast<float>(gallery_sqnorm_[r]);
    }
  });
}

double BlockedScorer::exact(int64_t q, int64_t g) const {
  const double dot =
      exactDot(query64_.data() + (q - begin_) * dim_,
               gallery_.features.data_ptr<float>() + g * dim_, gallery_norm_[g], dim_);
  return gallery_sqnorm_[g] - 2.0 * dot + query_sqnorm_[q - begin_];
}

double BlockedScorer::refined(int64_t q, int64_t g) const {
  const double dot = floatDot(query32_.data_ptr<float>() + (q - begin_) * dim_,
                              gallery32_.data_ptr<float>() + g * dim_, dim_);
  return gallery_sqnorm_[g] - 2.0 * dot + query_sqnorm_[q - begin_];
}

void BlockedScorer::scoreBlock(int64_t q0, int64_t q1, at::Tensor& buffer, QueryScore* out) const {
  const int64_t m = q1 - q0, g = gallery_.size();
  std::vector<QueryRanking> rankings;
  rankings.reserve(m);
  bool any_valid = false;
  for (int64_t q = q0; q < q1; ++q) {
    std::vector<int64_t> same_pid = index_.rowsOf(query_.pid[q]);
    std::vector<std::pair<double, int64_t>> positives;
    for (int64_t row : same_pid) {
      if (gallery_.camid[row] != query_.camid[q]) positives.emplace_back(exact(q, row), row);
    }
    rankings.emplace_back(std::move(positives), std::move(same_pid), gallery_.pid.data(),
                          query_.pid[q], error_bound_, refine_bound_);
    any_valid = any_valid || rankings.back().valid();
  }
  if (!any_valid) return;  // out[] stays "not valid"
  const at::Tensor block = query32_.slice(0, q0 - begin_, q1 - begin_);
  for (int64_t c0 = 0; c0 < g; c0 += tiling_.gallery_cols) {
    const int64_t c = std::min(tiling_.gallery_cols, g - c0);
    at::Tensor dot = buffer.narrow(0, 0, m * c).view({m, c});
    at::mm_out(dot, block, gallery32_.slice(0, c0, c0 + c).t());
    const float* gsq = gallery_sqnorm32_.data() + c0;
    for (int64_t i = 0; i < m; ++i) {
      const float* d = dot.data_ptr<float>() + i * c;
      const float qsq = query_sqnorm32_[q0 - begin_ + i];
      const int64_t q = q0 + i;
      rankings[i].scan(
          c0, c, [&](int64_t j) { return (gsq[j] - 2.0f * d[j]) + qsq; },
          [&](int64_t row) { return refined(q, row); }, [&](int64_t row) { return exact(q, row); });
    }
  }
  for (int64_t i = 0; i < m; ++i) out[i] = rankings[i].finish();
}

std::vector<QueryScore> BlockedScorer::scoreAll(const std::function<void(int64_t)>& scored) const {
  const int64_t n = end_ - begin_;
  std::vector<QueryScore> out(n);
  if (n == 0) return out;
  int64_t threads = at::get_num_threads();
  if (tiling_.threads > 0) threads = std::min<int64_t>(threads, tiling_.threads);
  // A multiple of `threads` blocks of at most query_rows rows, of equal size, so that the
  // threads finish together.
  const int64_t rows = ceilDiv(n, std::min(n, threads * ceilDiv(n, threads * tiling_.query_rows)));
  const int64_t blocks = ceilDiv(n, rows);
  threads = std::min(threads, blocks);
  const int64_t cols = std::min(tiling_.gallery_cols, gallery_.size());
  const SingleThreadedBlas single_threaded_blas;
  std::atomic<int64_t> next{0};
  std::mutex scored_mutex;
  int64_t scored_rows = 0;
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    at::Tensor buffer = at::empty({rows * cols}, at::kFloat);
    for (int64_t b = next++; b < blocks; b = next++) {
      const int64_t q0 = begin_ + b * rows, q1 = std::min(end_, q0 + rows);
      scoreBlock(q0, q1, buffer, out.data() + b * rows);
      if (scored) {
        std::lock_guard<std::mutex> lock(scored_mutex);
        scored_rows += q1 - q0;
        scored(scored_rows);
      }
    }
  });
  return out;
}

std::vector<std::pair<double, int64_t>> BlockedScorer::top(int64_t q, int64_t top) const {
  const int64_t pid = query_.pid[q], camid = query_.camid[q];
  const at::Tensor dot = at::mv(gallery32_, query32_[q - begin_]).contiguous();
  const float* d = dot.data_ptr<float>();
  const float qsq = query_sqnorm32_[q - begin_];
  std::vector<std::pair<float, int64_t>> kept;  // (float32 distance, row), junk removed
  for (int64_t g = 0; g < gallery_.size(); ++g) {
    if (gallery_.pid[g] == pid && gallery_.camid[g] == camid) continue;
    kept.emplace_back((gallery_sqnorm32_[g] - 2.0f * d[g]) + qsq, g);
  }
  const auto k = std::min<int64_t>(top, static_cast<int64_t>(kept.size()));
  if (k == 0) return {};
  // At least k rows have a float32 distance <= kth, hence an exact one <= kth + eps: the best k
  // by exact distance all have a float32 distance <= kth + 2 eps.
  std::nth_element(kept.begin(), kept.begin() + (k - 1), kept.end());
  const double limit = static_cast<double>(kept[k - 1].first) + 2.0 * error_bound_ + 1e-9;
  std::vector<std::pair<double, int64_t>> best;
  for (const auto& [approximate, g] : kept) {
    if (static_cast<double>(approximate) <= limit) best.emplace_back(exact(q, g), g);
  }
  std::sort(best.begin(), best.end());
  best.resize(k);
  return best;
}

}  // namespace agreid::trainer
