#include "trainer/eval/rerank.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"
#include "trainer/eval/metrics.h"

namespace agreid::trainer {
namespace {

// A sparse row: ascending column indices with their values.
struct SparseRow {
  std::vector<int64_t> cols;
  std::vector<double> vals;
};

}  // namespace

struct KReciprocalReranker::Impl {
  int64_t num_query = 0;
  int64_t num_all = 0;
  int64_t k1 = 0, k2 = 0;
  double lambda = 0.0;
  at::Tensor x;       // [N, D] normalised features, float64
  at::Tensor sqnorm;  // [N]
  std::vector<double> row_max;
  int64_t top_k = 0;         // neighbours kept per sample
  std::vector<int64_t> top;  // [N, top_k]
  std::vector<SparseRow> v;  // [N] (after local query expansion)
  // Inverted index of V over the gallery rows: for column k, the gallery rows j with V[j, k] != 0
  // (ascending) and those values.
  std::vector<SparseRow> by_column;

  const int64_t* neighbours(int64_t i) const { return top.data() + i * top_k; }

  // Normalised distance d[i, j] / row_max[i], as in the full-matrix formulation.
  double distance(int64_t i, int64_t j) const {
    const int64_t dim = x.size(1);
    const double* a = x.data_ptr<double>() + i * dim;
    const double* b = x.data_ptr<double>() + j * dim;
    double dot = 0.0;
    for (int64_t t = 0; t < dim; ++t) dot += a[t] * b[t];
    const double* sq = sqnorm.data_ptr<double>();
    return (sq[i] + sq[j] - 2.0 * dot) / row_max[i];
  }

  void nearestNeighbours(int64_t block_size, comm::Communicator* comm,
                         const std::function<void(int64_t, int64_t)>& progress);
  std::vector<int64_t> reciprocal(int64_t i, int64_t k) const;
  SparseRow weights(int64_t i) const;
  void buildV();
};

void KReciprocalReranker::Impl::nearestNeighbours(
    int64_t block_size, comm::Communicator* comm,
    const std::function<void(int64_t, int64_t)>& progress) {
  const int rank = comm ? comm->rank() : 0;
  const int world = comm ? comm->size() : 1;
  // Named copies, not a structured binding: lambdas below capture them (C++17).
  const std::pair<int64_t, int64_t> share = shareOf(num_all, rank, world);
  const int64_t begin = share.first, end = share.second;
  // Per row: row max, then the top_k neighbour indices (exact in float64).
  at::Tensor local = at::empty({end - begin, top_k + 1}, at::kDouble);
  double* out = local.data_ptr<double>();
  for (int64_t b0 = begin; b0 < end; b0 += block_size) {
    const int64_t b1 = std::min(end, b0 + block_size);
    at::Tensor d = squaredDistances(x.slice(0, b0, b1), x, sqnorm);
    const at::Tensor maxes = d.amax(1, /*keepdim=*/true).contiguous();
    d.div_(maxes);
    const double* dp = d.data_ptr<double>();
    const double* mp = maxes.data_ptr<double>();
    at::parallel_for(b0, b1, 1, [&](int64_t r0, int64_t r1) {
      std::vector<int64_t> order(num_all);
      for (int64_t r = r0; r < r1; ++r) {
        const double* row = dp + (r - b0) * num_all;
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(
            order.begin(), order.begin() + top_k, order.end(),
            [&](int64_t a, int64_t b) { return row[a] < row[b] || (row[a] == row[b] && a < b); });
        double* o = out + (r - begin) * (top_k + 1);
        o[0] = mp[r - b0];
        for (int64_t t = 0; t < top_k; ++t) o[t + 1] = static_cast<double>(order[t]);
      }
    });
    if (progress) progress(b1 - begin, end - begin);
  }
  const at::Tensor all = comm ? comm->allGatherV(local) : local;
  AGREID_CHECK(all.size(0) == num_all, "gathered ", all.size(0), " neighbour rows of ", num_all);
  const double* a = all.data_ptr<double>();
  row_max.resize(num_all);
  top.resize(num_all * top_k);
  for (int64_t i = 0; i < num_all; ++i) {
    row_max[i] = a[i * (top_k + 1)];
    for (int64_t t = 0; t < top_k; ++t) {
      top[i * top_k + t] = static_cast<int64_t>(a[i * (top_k + 1) + t + 1]);
    }
  }
}

// The k-reciprocal neighbours of i among its first k neighbours, in ranking order.
std::vector<int64_t> KReciprocalReranker::Impl::reciprocal(int64_t i, int64_t k) const {
  std::vector<int64_t> out;
  const int64_t* forward = neighbours(i);
  for (int64_t t = 0; t < k; ++t) {
    const int64_t c = forward[t];
    const int64_t* back = neighbours(c);
    if (std::find(back, back + k, i) != back + k) out.push_back(c);
  }
  return out;
}

SparseRow KReciprocalReranker::Impl::weights(int64_t i) const {
  const int64_t forward_k = std::min(k1 + 1, num_all);
  const auto half = static_cast<int64_t>(std::nearbyint(static_cast<double>(k1) / 2.0));
  const int64_t half_k = std::min(half + 1, num_all);
  const std::vector<int64_t> r = reciprocal(i, forward_k);
  std::vector<int64_t> expansion = r;
  std::vector<int64_t> r_sorted = r;
  std::sort(r_sorted.begin(), r_sorted.end());
  for (int64_t c : r) {
    const std::vector<int64_t> rc = reciprocal(c, half_k);
    int64_t common = 0;
    for (int64_t e : rc) {
      if (std::binary_search(r_sorted.begin(), r_sorted.end(), e)) ++common;
    }
    if (static_cast<double>(common) > 2.0 / 3.0 * static_cast<double>(rc.size())) {
      expansion.insert(expansion.end(), rc.begin(), rc.end());
    }
  }
  std::sort(expansion.begin(), expansion.end());
  expansion.erase(std::unique(expansion.begin(), expansion.end()), expansion.end());
  SparseRow row;
  row.cols = expansion;
  row.vals.resize(expansion.size());
  double sum = 0.0;
  for (size_t t = 0; t < expansion.size(); ++t) {
    row.vals[t] = std::exp(-distance(i, expansion[t]));
    sum += row.vals[t];
  }
  for (double& w : row.vals) w /= sum;
  return row;
}

void KReciprocalReranker::Impl::buildV() {
  std::vector<SparseRow> base(num_all);
  at::parallel_for(0, num_all, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) base[i] = weights(i);
  });
  if (k2 != 1) {
    const int64_t qe = std::min(k2, num_all);
    v.assign(num_all, {});
    at::parallel_for(0, num_all, 1, [&](int64_t i0, int64_t i1) {
      std::vector<double> acc(num_all, 0.0);
      std::vector<uint8_t> touched(num_all, 0);
      std::vector<int64_t> cols;
      for (int64_t i = i0; i < i1; ++i) {
        cols.clear();
        for (int64_t t = 0; t < qe; ++t) {
          const SparseRow& src = base[neighbours(i)[t]];
          for (size_t e = 0; e < src.cols.size(); ++e) {
            const int64_t c = src.cols[e];
            if (!touched[c]) {
              touched[c] = 1;
              cols.push_back(c);
            }
            acc[c] += src.vals[e];
          }
        }
        std::sort(cols.begin(), cols.end());
        SparseRow& row = v[i];
        row.cols = cols;
        row.vals.resize(cols.size());
        for (size_t e = 0; e < cols.size(); ++e) {
          row.vals[e] = acc[cols[e]] / static_cast<double>(qe);
          acc[cols[e]] = 0.0;
          touched[cols[e]] = 0;
        }
      }
    });
  } else {
    v = std::move(base);
  }
  by_column.assign(num_all, {});
  for (int64_t j = num_query; j < num_all; ++j) {
    const SparseRow& row = v[j];
    for (size_t e = 0; e < row.cols.size(); ++e) {
      if (row.vals[e] == 0.0) continue;
      by_column[row.cols[e]].cols.push_back(j - num_query);
      by_column[row.cols[e]].vals.push_back(row.vals[e]);
    }
  }
}

KReciprocalReranker::KReciprocalReranker(const FeatureSet& query, const FeatureSet& gallery,
                                         const EvalOptions& options, comm::Communicator* comm,
                                         const std::function<void(int64_t, int64_t)>& progress)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.num_query = query.size();
  s.num_all = query.size() + gallery.size();
  if (s.num_all > options.rerank_max_samples) {
    throw InputError("eval.rerank: " + std::to_string(s.num_all) +
                     " query + gallery samples exceed eval.rerank_max_samples = " +
                     std::to_string(options.rerank_max_samples) +
                     " (re-ranking time is quadratic; raise the key or turn eval.rerank off)");
  }
  AGREID_CHECK(options.k1 >= 1 && options.k2 >= 1, "k1 and k2 must be positive");
  s.k1 = options.k1;
  s.k2 = options.k2;
  s.lambda = options.lambda;
  s.x = normalizeRows(at::cat({query.features, gallery.features}, 0)).contiguous();
  s.sqnorm = s.x.pow(2).sum(1).contiguous();
  s.top_k = std::min(std::max(s.k1 + 1, s.k2), s.num_all);
  s.nearestNeighbours(options.block_size, comm, progress);
  s.buildV();
}

KReciprocalReranker::~KReciprocalReranker() = default;

at::Tensor KReciprocalReranker::rows(int64_t begin, int64_t end) const {
  const Impl& s = *impl_;
  const int64_t g = s.num_all - s.num_query;
  at::Tensor d = squaredDistances(s.x.slice(0, begin, end), s.x.slice(0, s.num_query),
                                  s.sqnorm.slice(0, s.num_query));
  double* dp = d.data_ptr<double>();
  at::parallel_for(begin, end, 1, [&](int64_t q0, int64_t q1) {
    std::vector<double> overlap(g);
    for (int64_t q = q0; q < q1; ++q) {
      std::fill(overlap.begin(), overlap.end(), 0.0);
      const SparseRow& vq = s.v[q];
      for (size_t e = 0; e < vq.cols.size(); ++e) {
        const SparseRow& col = s.by_column[vq.cols[e]];
        const double a = vq.vals[e];
        if (a == 0.0) continue;
        for (size_t t = 0; t < col.cols.size(); ++t) {
          overlap[col.cols[t]] += std::min(a, col.vals[t]);
        }
      }
      double* row = dp + (q - begin) * g;
      for (int64_t j = 0; j < g; ++j) {
        const double jaccard = 1.0 - overlap[j] / (2.0 - overlap[j]);
        row[j] = jaccard * (1.0 - s.lambda) + (row[j] / s.row_max[q]) * s.lambda;
      }
    }
  });
  return d;
}

}  // namespace agreid::trainer
