// The ranks of one query's positives, accumulated over the gallery in any number of slices, from
// approximate distances with a known error bound (the scoring step of metrics.h's protocol).
//
// Only the positives' ranks are needed: a negative's place is the number of positives ranked
// before it, so the gallery is scanned once and each negative that may precede the hardest
// positive is counted in one bin. Three levels decide the bin, each only for the rows the one
// before cannot place:
//   1. the approximate distance a (|a - exact| <= eps): a histogram over buckets of a. A table
//      gives each bucket's bin when every a in it is farther than eps from every positive's
//      distance (nearly all buckets), so most rows cost one histogram increment;
//   2. refine(g), a closer approximation (|refine - exact| <= refine_eps), for the rows in the
//      other buckets;
//   3. exact(g), the exact distance, compared as the ranking key (distance, gallery row).
// So the result equals the ranking of the exact distances, ties broken by the lower gallery row,
// and slices may come in any order and any size.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace agreid::trainer {

// Results of one query. `first_rank` is the 1-based rank of the easiest positive after junk
// removal; `valid` is false when there is no positive.
struct QueryScore {
  bool valid = false;
  double ap = 0.0;
  double inp = 0.0;
  int64_t first_rank = 0;
};

class QueryRanking {
 public:
  // `positives`: (exact distance, gallery row) of every positive, in any order; `same_pid`: every
  // gallery row with `query_pid` (positives and junk, not counted), ascending; `gallery_pid`: the
  // pid of every gallery row (kept by pointer). `error_bound` bounds |approximate - exact| of the
  // scanned distances, `refine_bound` |refine(g) - exact(g)|.
  QueryRanking(std::vector<std::pair<double, int64_t>> positives, std::vector<int64_t> same_pid,
               const int64_t* gallery_pid, int64_t query_pid, double error_bound,
               double refine_bound)
      : same_pid_(std::move(same_pid)),
        pid_(gallery_pid),
        query_pid_(query_pid),
        eps_(error_bound),
        refine_eps_(refine_bound) {
    std::sort(positives.begin(), positives.end());  // by (distance, row): the ranking order
    for (const auto& [d, g] : positives) {
      pos_d_.push_back(d);
      pos_g_.push_back(g);
    }
    negatives_after_.assign(pos_d_.size(), 0);
    if (!positives.empty()) buildTable();
  }

  bool valid() const { return !pos_d_.empty(); }

  // Scans gallery rows [g0, g0 + n): approx(j) is the approximate distance of row g0 + j (float
  // or double), refine(g) and exact(g) those of row g.
  template <typename Approx, typename Refine, typename Exact>
  void scan(int64_t g0, int64_t n, const Approx& approx, const Refine& refine, const Exact& exact) {
    if (!valid()) return;
    constexpr int64_t kChunk = 256;
    int32_t bucket[kChunk];
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      const int64_t len = std::min(kChunk, n - j0);
      for (int64_t k = 0; k < len; ++k) bucket[k] = bucketOf(approx(j0 + k));  // vectorised
      int32_t* histogram = histogram_.data();
      const int32_t* bin = bin_.data();
      for (int64_t k = 0; k < len; ++k) {
        ++histogram[bucket[k]];
        if (bin[bucket[k]] == kUnclear) place(g0 + j0 + k, approx(j0 + k), refine, exact);
      }
    }
    // Positives and junk went into the histogram too: take them out.
    for (auto it = std::lower_bound(same_pid_.begin(), same_pid_.end(), g0);
         it != same_pid_.end() && *it < g0 + n; ++it) {
      --histogram_[bucketOf(approx(*it - g0))];
    }
  }

  // AP, INP and the first positive's rank, once every gallery row has been scanned.
  QueryScore finish() const {
    QueryScore s;
    if (!valid()) return s;
    std::vector<int64_t> negatives_after = negatives_after_;
    for (size_t b = 0; b < bin_.size(); ++b) {
      if (bin_[b] >= 0) negatives_after[bin_[b]] += histogram_[b];
    }
    s.valid = true;
    const auto num_pos = static_cast<int64_t>(pos_d_.size());
    int64_t negatives = 0, rank = 0;
    double ap = 0.0;
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

 private:
  static constexpr int32_t kBuckets = 1024;
  static constexpr int32_t kAfter = -2;    // the bucket ranks after every positive
  static constexpr int32_t kUnclear = -1;  // the bucket is within eps of a positive's distance

  // Buckets: 0 holds a < base (before every positive: bin 0), 1..kBuckets split [base, limit)
  // evenly, kBuckets + 1 holds a >= limit (after every positive). `base` and `limit` lie eps
  // (and a margin for the roundings of these comparisons) outside the positives' distances.
  int32_t bucketOf(double a) const {
    const double t = std::min((a - base_) * inv_width_ + 1.0, kBuckets + 1.0);
    return t < 0.0 ? 0 : static_cast<int32_t>(t);
  }

  // bin_[b] for bucket b in 1..kBuckets is computed for the bucket's range widened by half a
  // bucket on each side, so that rounding in bucketOf() cannot pick a wrong entry.
  void buildTable() {
    last_d_ = pos_d_.back();
    last_g_ = pos_g_.back();
    base_ = pos_d_.front() - eps_ - 1e-9;
    const double limit = last_d_ + eps_ + 1e-9;
    const double width = (limit - base_) / kBuckets;
    inv_width_ = 1.0 / width;
    bin_.assign(kBuckets + 2, kUnclear);
    histogram_.assign(kBuckets + 2, 0);
    bin_[0] = 0;
    bin_[kBuckets + 1] = kAfter;
    const auto num_pos = static_cast<int64_t>(pos_d_.size());
    int64_t lo = 0, hi = 0;  // positives certainly before / possibly before the bucket's values
    for (int32_t b = 1; b <= kBuckets; ++b) {
      const double left = base_ + (b - 1.5) * width, right = base_ + (b + 0.5) * width;
      while (lo < num_pos && pos_d_[lo] < left - eps_) ++lo;
      while (hi < num_pos && pos_d_[hi] <= right + eps_) ++hi;
      if (lo == num_pos) {
        bin_[b] = kAfter;
      } else if (lo == hi) {
        bin_[b] = static_cast<int32_t>(lo);
      }
    }
  }

  // Ranking key: (distance, gallery row); a lower key ranks first.
  static bool before(double da, int64_t a, double db, int64_t b) {
    return da < db || (da == db && a < b);
  }

  // The bin of a distance known within +-eps, or -1 when a positive's distance is in the range.
  int64_t binOf(double d, double eps) const {
    const int64_t lo = std::lower_bound(pos_d_.begin(), pos_d_.end(), d - eps) - pos_d_.begin();
    const int64_t hi = std::upper_bound(pos_d_.begin(), pos_d_.end(), d + eps) - pos_d_.begin();
    return lo == hi ? lo : -1;
  }

  // Levels 2 and 3, for a row in an unclear bucket.
  template <typename Refine, typename Exact>
  void place(int64_t g, double a, const Refine& refine, const Exact& exact) {
    if (pid_[g] == query_pid_ || a - eps_ > last_d_) return;  // pos/junk, or after every positive
    int64_t bin = binOf(a, eps_);
    if (bin < 0) {
      const double r = refine(g);
      if (r - refine_eps_ > last_d_) return;
      bin = binOf(r, refine_eps_);
    }
    if (bin < 0) {
      const double dg = exact(g);
      if (dg > last_d_ || (dg == last_d_ && g > last_g_)) return;
      bin = std::lower_bound(pos_d_.begin(), pos_d_.end(), dg) - pos_d_.begin();
      while (bin < static_cast<int64_t>(pos_d_.size()) && before(pos_d_[bin], pos_g_[bin], dg, g)) {
        ++bin;
      }
    }
    ++negatives_after_[bin];  // bin < #positives: the row is not after the hardest positive
  }

  std::vector<double> pos_d_;             // exact distances of the positives, ranking order
  std::vector<int64_t> pos_g_;            // their gallery rows
  std::vector<int64_t> same_pid_;         // rows with the query's pid, ascending
  std::vector<int64_t> negatives_after_;  // [p]: negatives ranked after exactly p positives
  std::vector<int32_t> bin_;              // per bucket: bin, kAfter or kUnclear
  std::vector<int32_t> histogram_;        // per bucket: rows scanned
  const int64_t* pid_;
  int64_t query_pid_;
  double eps_, refine_eps_;
  double last_d_ = 0.0, base_ = 0.0, inv_width_ = 0.0;
  int64_t last_g_ = 0;
};

}  // namespace agreid::trainer
