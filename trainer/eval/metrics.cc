#include "trainer/eval/metrics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/check.h"
#include "base/error.h"
#include "base/progress.h"
#include "comm/communicator.h"
#include "trainer/eval/rerank.h"

namespace agreid::trainer {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// This rank's queries [begin, end) and their rows of per-query results.
struct Share {
  int64_t begin, end;
  double* scores;  // [end - begin, kScoreFields]
};

void store(const QueryScore& s, double* r) {
  r[0] = s.valid ? 1.0 : 0.0;
  r[1] = s.ap;
  r[2] = s.inp;
  r[3] = static_cast<double>(s.first_rank);
}

// The ranked lists wanted: some rows, or the worst queries.
bool recordsAny(const EvaluateRequest& request) {
  return !request.record.empty() || request.record_worst > 0;
}

// Keeps the `n` lists of lowest (AP, query row), in that order (EvaluateRequest::record_worst).
void keepWorst(std::vector<RankedList>& lists, int64_t n) {
  std::stable_sort(lists.begin(), lists.end(), [](const RankedList& a, const RankedList& b) {
    return a.ap < b.ap || (a.ap == b.ap && a.query < b.query);
  });
  if (static_cast<int64_t>(lists.size()) > n) lists.resize(n);
}

// The rows of [b0, b1) (inside this rank's share, already scored) whose lists this rank records:
// the requested rows there, or the range's `record_worst` queries with a match of lowest AP --
// the worst queries of all ranks are among the union of each range's worst.
std::vector<int64_t> rowsToRecord(const EvaluateRequest& request, const Share& share, int64_t b0,
                                  int64_t b1) {
  std::vector<int64_t> rows;
  if (request.record_worst <= 0) {
    for (int64_t q : request.record) {
      if (q >= b0 && q < b1) rows.push_back(q);
    }
    return rows;
  }
  const auto field = [&](int64_t q, int f) {
    return share.scores[(q - share.begin) * kScoreFields + f];
  };
  for (int64_t q = b0; q < b1; ++q) {
    if (field(q, 0) != 0.0) rows.push_back(q);
  }
  const auto n = std::min<int64_t>(request.record_worst, static_cast<int64_t>(rows.size()));
  std::partial_sort(rows.begin(), rows.begin() + n, rows.end(), [&](int64_t a, int64_t b) {
    return field(a, 1) < field(b, 1) || (field(a, 1) == field(b, 1) && a < b);
  });
  rows.resize(n);
  return rows;
}

// Re-ranked protocol: float64 distance blocks of `block_size` query rows (rerank.h).
void scoreReranked(const FeatureSet& query, const FeatureSet& gallery, const EvalOptions& options,
                   comm::Communicator* comm, const EvaluateRequest& request,
                   const GalleryIndex& index, const Share& share, std::vector<RankedList>& ranked) {
  const KReciprocalReranker reranker(query, gallery, options, comm, request.neighbours_progress);
  const int64_t g = gallery.size();
  for (int64_t b0 = share.begin; b0 < share.end; b0 += options.block_size) {
    const int64_t b1 = std::min(share.end, b0 + options.block_size);
    const at::Tensor dist = reranker.rows(b0, b1);
    at::parallel_for(b0, b1, 1, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        store(index.score(dist.data_ptr<double>() + (q - b0) * g, query.pid[q], query.camid[q]),
              share.scores + (q - share.begin) * kScoreFields);
      }
    });
    for (int64_t q : rowsToRecord(request, share, b0, b1)) {
      const at::Tensor row = dist[q - b0].contiguous();
      RankedList list =
          index.top(row.data_ptr<double>(), query.pid[q], query.camid[q], request.record_top);
      list.query = q;
      list.ap = share.scores[(q - share.begin) * kScoreFields + 1];
      ranked.push_back(std::move(list));
    }
    if (request.record_worst > 0) keepWorst(ranked, request.record_worst);
    if (request.progress) request.progress(b1 - share.begin, share.end - share.begin);
  }
}

// Plain protocol: float32 tiles with exact recomputation, all threads (blocked_scoring.h).
void scorePlain(const FeatureSet& query, const FeatureSet& gallery, const EvalOptions& options,
                EvalTiling tiling, const EvaluateRequest& request, const GalleryIndex& index,
                const Share& share, std::vector<RankedList>& ranked) {
  tiling.query_rows = std::min(tiling.query_rows, options.block_size);
  const BlockedScorer scorer(query, share.begin, share.end, gallery, index, tiling);
  std::function<void(int64_t)> scored;
  if (request.progress) {
    scored = [&](int64_t done) { request.progress(done, share.end - share.begin); };
  }
  const std::vector<QueryScore> scores = scorer.scoreAll(scored);
  for (int64_t q = share.begin; q < share.end; ++q) {
    store(scores[q - share.begin], share.scores + (q - share.begin) * kScoreFields);
  }
  for (int64_t q : rowsToRecord(request, share, share.begin, share.end)) {
    RankedList list;
    list.query = q;
    for (const auto& [d, g] : scorer.top(q, request.record_top)) {
      list.gallery.push_back(g);
      list.distance.push_back(d);
    }
    ranked.push_back(std::move(list));
  }
}

// Gathers every rank's recorded lists onto every rank, in query order. Layout of one row:
// query, count, then `top` gallery rows and `top` distances (unused slots are -1 / NaN).
std::vector<RankedList> gatherRankedLists(const std::vector<RankedList>& local,
                                          const EvaluateRequest& request,
                                          comm::Communicator* comm) {
  if (!recordsAny(request)) return {};
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
  std::vector<std::pair<double, int64_t>> exact;
  for (int64_t g : positives(pid, camid)) exact.emplace_back(distances[g], g);
  QueryRanking ranking(std::move(exact), rowsOf(pid), pid_.data(), pid, 0.0, 0.0);
  const auto distance = [&](int64_t g) { return distances[g]; };
  ranking.scan(0, size(), distance, distance, distance);
  return ranking.finish();
}

std::vector<int64_t> GalleryIndex::rowsOf(int64_t pid) const {
  const auto it = std::lower_bound(by_pid_pids_.begin(), by_pid_pids_.end(), pid);
  if (it == by_pid_pids_.end() || *it != pid) return {};
  const size_t slot = it - by_pid_pids_.begin();
  return {by_pid_rows_.begin() + by_pid_offsets_[slot],
          by_pid_rows_.begin() + by_pid_offsets_[slot + 1]};
}

std::vector<int64_t> GalleryIndex::positives(int64_t pid, int64_t camid) const {
  std::vector<int64_t> rows;
  for (int64_t g : rowsOf(pid)) {
    if (camid_[g] != camid) rows.push_back(g);
  }
  return rows;
}

RankedList GalleryIndex::top(const double* d, int64_t pid, int64_t camid, int64_t top) const {
  std::vector<int64_t> rows;
  rows.reserve(pid_.size());
  for (int64_t g = 0; g < size(); ++g) {
    if (!(pid_[g] == pid && camid_[g] == camid)) rows.push_back(g);
  }
  const auto k = std::min<int64_t>(top, static_cast<int64_t>(rows.size()));
  auto cmp = [&](int64_t a, int64_t b) { return d[a] < d[b] || (d[a] == d[b] && a < b); };
  std::partial_sort(rows.begin(), rows.begin() + k, rows.end(), cmp);
  RankedList list;
  for (int64_t i = 0; i < k; ++i) {
    list.gallery.push_back(rows[i]);
    list.distance.push_back(d[rows[i]]);
  }
  return list;
}

EvalResults evaluate(const FeatureSet& query, const FeatureSet& gallery, const EvalOptions& options,
                     comm::Communicator* comm, const EvaluateRequest& request,
                     const EvalTiling& tiling) {
  checkFeatureSet(query);
  checkFeatureSet(gallery);
  if (query.size() == 0) throw InputError("evaluation: the query set is empty");
  if (gallery.size() == 0) throw InputError("evaluation: the gallery set is empty");
  if (query.dim() != gallery.dim()) {
    throw InputError("evaluation: query features are " + std::to_string(query.dim()) +
                     "-d but gallery features are " + std::to_string(gallery.dim()) + "-d");
  }
  AGREID_CHECK(options.block_size > 0 && options.max_rank > 0, "bad eval options");
  AGREID_CHECK(request.record.empty() || request.record_worst == 0,
               "ranked lists of given rows and of the worst queries at once");
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->size() : 1;
  const auto [begin, end] = shareOf(query.size(), rank, world);

  const GalleryIndex index(gallery.pid, gallery.camid);
  at::Tensor scores = at::zeros({end - begin, kScoreFields}, at::kDouble);
  std::vector<RankedList> ranked;
  const Share share{begin, end, scores.data_ptr<double>()};
  if (options.rerank) {
    scoreReranked(query, gallery, options, comm, request, index, share, ranked);
  } else {
    scorePlain(query, gallery, options, tiling, request, index, share, ranked);
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
  for (RankedList& list : results.ranked) {
    const double* r = all_scores.data_ptr<double>() + list.query * kScoreFields;
    list.ap = r[0] != 0.0 ? r[1] : kNaN;
  }
  if (request.record_worst > 0) keepWorst(results.ranked, request.record_worst);
  return results;
}

void reportProgress(EvaluateRequest& request, const EvalOptions& options, const Log& log) {
  request.progress = progressCallback(log, "eval scoring", "queries");
  if (options.rerank) {
    request.neighbours_progress = progressCallback(log, "eval re-ranking neighbours", "samples");
  }
}

}  // namespace agreid::trainer
