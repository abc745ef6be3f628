#include "trainer/eval/metrics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"
#include "trainer/eval/rerank.h"

namespace agreid::trainer {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Ranking key: (distance, gallery row); a lower key ranks first.
inline bool before(double da, int64_t a, double db, int64_t b) {
  return da < db || (da == db && a < b);
}

// Per-query results in a fixed layout for gathering: valid, ap, inp, first_rank.
constexpr int64_t kScoreFields = 4;

RankingMetrics aggregate(const at::Tensor& scores, const std::vector<int64_t>& rows,
                         int64_t max_rank) {
  RankingMetrics m;
  m.num_query = static_cast<int64_t>(rows.size());
  std::vector<int64_t> first_rank_counts(max_rank + 1, 0);
  double ap_sum = 0.0, inp_sum = 0.0;
  const double* s = scores.data_ptr<double>();
  for (int64_t q : rows) {
    const double* r = s + q * kScoreFields;
    if (r[0] == 0.0) continue;
    ++m.num_valid_query;
    ap_sum += r[1];
    inp_sum += r[2];
    const auto first = static_cast<int64_t>(r[3]);
    if (first <= max_rank) ++first_rank_counts[first];
  }
  m.cmc.assign(max_rank, kNaN);
  if (m.num_valid_query == 0) {
    m.map = m.minp = kNaN;
    return m;
  }
  const auto valid = static_cast<double>(m.num_valid_query);
  m.map = ap_sum / valid;
  m.minp = inp_sum / valid;
  int64_t cumulative = 0;
  for (int64_t k = 0; k < max_rank; ++k) {
    cumulative += first_rank_counts[k + 1];
    m.cmc[k] = static_cast<double>(cumulative) / valid;
  }
  return m;
}

// Distances of the plain (not re-ranked) protocol. Blocks are computed in float32 (half the
// time and memory of float64 matrix products); entries whose float32 value lies too close to a
// positive's distance to decide the ranking are recomputed in float64 (exact()), so the result
// equals a float64 evaluation.
class PlainDistances {
 public:
  PlainDistances(const FeatureSet& query, const FeatureSet& gallery)
      : query_(normalizeRows(query.features)), gallery_(normalizeRows(gallery.features)) {
    query_sqnorm_ = query_.pow(2).sum(1).contiguous();
    gallery_sqnorm_ = gallery_.pow(2).sum(1).contiguous();
    query32_ = query_.to(at::kFloat);
    gallery32_ = gallery_.to(at::kFloat);
    gallery_sqnorm32_ = gallery32_.pow(2).sum(1);
    // Bound on |float32 result - float64 result| for rows of norm <= 1: the dot product of
    // rounded inputs (gamma_D + 2u), scaled by 2, plus the roundings of the norms and of the two
    // additions (values <= 4), with a factor 2 of margin. u = 2^-24.
    const double u = std::ldexp(1.0, -24);
    error_bound_ = 2.0 * (2.0 * (query.dim() + 2) * u + 12.0 * u);
  }
  at::Tensor rows(int64_t begin, int64_t end) const {
    return squaredDistances(query32_.slice(0, begin, end), gallery32_, gallery_sqnorm32_);
  }
  // The float64 distance, as squaredDistances() computes it (up to summation order).
  double exact(int64_t q, int64_t g) const {
    const int64_t dim = query_.size(1);
    const double* a = query_.data_ptr<double>() + q * dim;
    const double* b = gallery_.data_ptr<double>() + g * dim;
    double dot = 0.0;
    for (int64_t t = 0; t < dim; ++t) dot += a[t] * b[t];
    return gallery_sqnorm_.data_ptr<double>()[g] - 2.0 * dot + query_sqnorm_.data_ptr<double>()[q];
  }
  at::Tensor exactRow(int64_t q) const {
    return squaredDistances(query_.slice(0, q, q + 1), gallery_, gallery_sqnorm_);
  }
  double errorBound() const { return error_bound_; }

 private:
  at::Tensor query_, gallery_, query_sqnorm_, gallery_sqnorm_;
  at::Tensor query32_, gallery32_, gallery_sqnorm32_;
  double error_bound_ = 0.0;
};

// Gathers every rank's recorded lists onto every rank, in query order. Layout of one row:
// query, count, then `top` gallery rows and `top` distances (unused slots are -1 / NaN).
std::vector<RankedList> gatherRankedLists(const std::vector<RankedList>& local,
                                          const EvaluateRequest& request,
                                          comm::Communicator* comm) {
  if (request.record.empty()) return {};
  const int64_t top = request.record_top;
  const int64_t width = 2 + 2 * top;
  at::Tensor packed = at::full({static_cast<int64_t>(local.size()), width}, -1.0, at::kDouble);
  double* p = packed.data_ptr<double>();
  for (size_t i = 0; i < local.size(); ++i) {
    double* r = p + i * width;
    const auto n = static_cast<int64_t>(local[i].gallery.size());
    r[0] = static_cast<double>(local[i].query);
    r[1] = static_cast<double>(n);
    for (int64_t t = 0; t < n; ++t) {
      r[2 + t] = static_cast<double>(local[i].gallery[t]);
      r[2 + top + t] = local[i].distance[t];
    }
  }
  const at::Tensor all = comm ? comm->allGatherV(packed) : packed;
  std::vector<RankedList> lists(all.size(0));
  const double* a = all.data_ptr<double>();
  for (size_t i = 0; i < lists.size(); ++i) {
    const double* r = a + i * width;
    lists[i].query = static_cast<int64_t>(r[0]);
    for (int64_t t = 0; t < static_cast<int64_t>(r[1]); ++t) {
      lists[i].gallery.push_back(static_cast<int64_t>(r[2 + t]));
      lists[i].distance.push_back(r[2 + top + t]);
    }
  }
  std::stable_sort(lists.begin(), lists.end(),
                   [](const RankedList& x, const RankedList& y) { return x.query < y.query; });
  return lists;
}

}  // namespace

double RankingMetrics::rank(int64_t k) const {
  if (k < 1 || k > static_cast<int64_t>(cmc.size())) return kNaN;
  return cmc[k - 1];
}

std::pair<int64_t, int64_t> shareOf(int64_t n, int rank, int world) {
  const int64_t base = n / world, extra = n % world;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

at::Tensor normalizeRows(const at::Tensor& features) {
  const at::Tensor x = features.to(at::kDouble);
  return x / x.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
}

at::Tensor squaredDistances(const at::Tensor& a, const at::Tensor& b, const at::Tensor& b_sqnorm) {
  at::Tensor d = at::addmm(b_sqnorm.unsqueeze(0), a, b.t(), /*beta=*/1, /*alpha=*/-2);
  d.add_(a.pow(2).sum(1, /*keepdim=*/true));
  return d.contiguous();
}

GalleryIndex::GalleryIndex(const std::vector<int64_t>& pid, const std::vector<int64_t>& camid)
    : pid_(pid), camid_(camid) {
  by_pid_rows_.resize(pid.size());
  std::iota(by_pid_rows_.begin(), by_pid_rows_.end(), 0);
  std::stable_sort(by_pid_rows_.begin(), by_pid_rows_.end(),
                   [&](int64_t a, int64_t b) { return pid[a] < pid[b]; });
  for (size_t i = 0; i < by_pid_rows_.size(); ++i) {
    const int64_t p = pid[by_pid_rows_[i]];
    if (by_pid_pids_.empty() || by_pid_pids_.back() != p) {
      by_pid_pids_.push_back(p);
      by_pid_offsets_.push_back(static_cast<int64_t>(i));
    }
  }
  by_pid_offsets_.push_back(static_cast<int64_t>(by_pid_rows_.size()));
}

QueryScore GalleryIndex::score(const double* distances, int64_t pid, int64_t camid) const {
  return scoreImpl(
      distances, 0.0, [&](int64_t g) { return distances[g]; }, pid, camid);
}

QueryScore GalleryIndex::score(const float* approximate, double error_bound,
                               const std::function<double(int64_t)>& exact, int64_t pid,
                               int64_t camid) const {
  return scoreImpl(approximate, error_bound, exact, pid, camid);
}

template <typename T, typename Exact>
QueryScore GalleryIndex::scoreImpl(const T* approx, double eps, const Exact& exact, int64_t pid,
                                   int64_t camid) const {
  QueryScore s;
  const auto it = std::lower_bound(by_pid_pids_.begin(), by_pid_pids_.end(), pid);
  if (it == by_pid_pids_.end() || *it != pid) return s;
  const size_t slot = it - by_pid_pids_.begin();
  std::vector<std::pair<double, int64_t>> positives;  // (exact distance, gallery row)
  for (int64_t i = by_pid_offsets_[slot]; i < by_pid_offsets_[slot + 1]; ++i) {
    const int64_t g = by_pid_rows_[i];
    if (camid_[g] != camid) positives.emplace_back(exact(g), g);
  }
  if (positives.empty()) return s;
  std::sort(positives.begin(), positives.end());  // by (distance, row): the ranking order
  const auto num_pos = static_cast<int64_t>(positives.size());
  std::vector<double> pos_d(num_pos);
  for (int64_t i = 0; i < num_pos; ++i) pos_d[i] = positives[i].first;
  const double last_d = pos_d.back();
  const int64_t last_g = positives.back().second;
  // negatives_after[p]: negatives ranked after exactly p positives (p < num_pos).
  std::vector<int64_t> negatives_after(num_pos, 0);
  const int64_t n = size();
  for (int64_t g = 0; g < n; ++g) {
    const double a = static_cast<double>(approx[g]);
    if (a - eps > last_d || pid_[g] == pid) continue;  // after every positive, or positive/junk
    // Positives certainly before g (distance < a - eps) and possibly before (<= a + eps).
    const int64_t lo = std::lower_bound(pos_d.begin(), pos_d.end(), a - eps) - pos_d.begin();
    const int64_t hi = std::upper_bound(pos_d.begin(), pos_d.end(), a + eps) - pos_d.begin();
    if (lo == hi) {
      ++negatives_after[lo];  // lo < num_pos: a - eps <= last_d
      continue;
    }
    const double dg = exact(g);
    if (dg > last_d || (dg == last_d && g > last_g)) continue;
    int64_t p = lo;
    while (p < hi && before(pos_d[p], positives[p].second, dg, g)) ++p;
    ++negatives_after[p];
  }
  s.valid = true;
  int64_t negatives = 0;
  double ap = 0.0;
  int64_t rank = 0;
  for (int64_t i = 0; i < num_pos; ++i) {
    negatives += negatives_after[i];
    rank = i + 1 + negatives;
    if (i == 0) s.first_rank = rank;
    ap += static_cast<double>(i + 1) / static_cast<double>(rank);
  }
  s.ap = ap / static_cast<double>(num_pos);
  s.inp = static_cast<double>(num_pos) / static_cast<double>(rank);
  return s;
}

RankedList GalleryIndex::top(const double* d, int64_t pid, int64_t camid, int64_t top) const {
  std::vector<int64_t> rows;
  rows.reserve(pid_.size());
  for (int64_t g = 0; g < size(); ++g) {
    if (!(pid_[g] == pid && camid_[g] == camid)) rows.push_back(g);
  }
  const auto k = std::min<int64_t>(top, static_cast<int64_t>(rows.size()));
  auto cmp = [&](int64_t a, int64_t b) { return before(d[a], a, d[b], b); };
  std::partial_sort(rows.begin(), rows.begin() + k, rows.end(), cmp);
  RankedList list;
  for (int64_t i = 0; i < k; ++i) {
    list.gallery.push_back(rows[i]);
    list.distance.push_back(d[rows[i]]);
  }
  return list;
}

EvalResults evaluate(const FeatureSet& query, const FeatureSet& gallery, const EvalOptions& options,
                     comm::Communicator* comm, const EvaluateRequest& request) {
  checkFeatureSet(query);
  checkFeatureSet(gallery);
  if (query.size() == 0) throw InputError("evaluation: the query set is empty");
  if (gallery.size() == 0) throw InputError("evaluation: the gallery set is empty");
  if (query.dim() != gallery.dim()) {
    throw InputError("evaluation: query features are " + std::to_string(query.dim()) +
                     "-d but gallery features are " + std::to_string(gallery.dim()) + "-d");
  }
  AGREID_CHECK(options.block_size > 0 && options.max_rank > 0, "bad eval options");
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->size() : 1;
  // Named copies, not a structured binding: lambdas below capture them (C++17).
  const std::pair<int64_t, int64_t> share = shareOf(query.size(), rank, world);
  const int64_t begin = share.first, end = share.second;

  std::unique_ptr<PlainDistances> plain;
  std::unique_ptr<KReciprocalReranker> reranker;
  if (options.rerank) {
    reranker = std::make_unique<KReciprocalReranker>(query, gallery, options, comm);
  } else {
    plain = std::make_unique<PlainDistances>(query, gallery);
  }
  const GalleryIndex index(gallery.pid, gallery.camid);
  const int64_t local = end - begin;
  at::Tensor scores = at::zeros({local, kScoreFields}, at::kDouble);
  double* out = scores.data_ptr<double>();
  std::vector<RankedList> ranked;
  for (int64_t b0 = begin; b0 < end; b0 += options.block_size) {
    const int64_t b1 = std::min(end, b0 + options.block_size);
    const at::Tensor dist = reranker ? reranker->rows(b0, b1) : plain->rows(b0, b1);
    const int64_t g = gallery.size();
    at::parallel_for(b0, b1, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        QueryScore s;
        if (reranker) {
          s = index.score(dist.data_ptr<double>() + (q - b0) * g, query.pid[q], query.camid[q]);
        } else {
          s = index.score(
              dist.data_ptr<float>() + (q - b0) * g, plain->errorBound(),
              [&](int64_t j) { return plain->exact(q, j); }, query.pid[q], query.camid[q]);
        }
        double* r = out + (q - begin) * kScoreFields;
        r[0] = s.valid ? 1.0 : 0.0;
        r[1] = s.ap;
        r[2] = s.inp;
        r[3] = static_cast<double>(s.first_rank);
      }
    });
    for (int64_t q : request.record) {
      if (q < b0 || q >= b1) continue;
      const at::Tensor row = reranker ? dist[q - b0].contiguous() : plain->exactRow(q);
      RankedList list =
          index.top(row.data_ptr<double>(), query.pid[q], query.camid[q], request.record_top);
      list.query = q;
      ranked.push_back(std::move(list));
    }
  }
  // Every rank ends with all per-query scores in query order.
  const at::Tensor all_scores = comm ? comm->allGatherV(scores) : scores;
  AGREID_CHECK(all_scores.size(0) == query.size(), "gathered ", all_scores.size(0), " scores for ",
               query.size(), " queries");

  EvalResults results;
  results.num_gallery = gallery.size();
  results.reranked = options.rerank;
  std::vector<int64_t> all_rows(query.size()), holistic_rows, occluded_rows;
  std::iota(all_rows.begin(), all_rows.end(), 0);
  results.all = aggregate(all_scores, all_rows, options.max_rank);
  if (query.hasOccluded()) {
    for (int64_t q = 0; q < query.size(); ++q) {
      (query.occluded[q] ? occluded_rows : holistic_rows).push_back(q);
    }
    if (!holistic_rows.empty()) {
      results.holistic = aggregate(all_scores, holistic_rows, options.max_rank);
    }
    if (!occluded_rows.empty()) {
      results.occluded = aggregate(all_scores, occluded_rows, options.max_rank);
    }
  }
  results.ranked = gatherRankedLists(ranked, request, comm);
  return results;
}

}  // namespace agreid::trainer
