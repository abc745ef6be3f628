// CounterRng: a small counter-based random generator (SplitMix64 over a hashed key). A stream is
// named by a key of up to three integers -- (seed, epoch, sample index) for augmentation,
// (seed, stream, identity) for the synthetic world -- so every sample draws the same numbers
// whichever thread, rank or process computes it, and no generator state is shared.
//
// The sequence is fixed by this file (no std:: distributions, whose output differs between
// standard libraries), so results are reproducible across platforms.
//
// Thread-safety: an instance is not shared between threads; make one per task (it is 16 bytes).
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

namespace agreid::data {

class CounterRng {
 public:
  CounterRng(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
    uint64_t h = mix(a ^ 0x9E3779B97F4A7C15ULL);
    h = mix(h ^ (b + 0xD1B54A32D192ED03ULL));
    h = mix(h ^ (c + 0x8CB92BA72F3D8DD7ULL));
    key_ = h;
    counter_ = 0;
  }

  // Next 64 random bits.
  uint64_t next() { return mix(key_ + 0x9E3779B97F4A7C15ULL * ++counter_); }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Uniform integer in [0, n) for n >= 1 (Lemire's multiply-shift; bias < 2^-64 * n).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform integer in [lo, hi] (inclusive).
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool bernoulli(double p) { return uniform() < p; }

  // Standard normal (Box-Muller; one of the pair is used).
  double normal() {
    double u1 = uniform();
    const double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Fisher-Yates shuffle of a random-access range.
  template <typename Iterator>
  void shuffle(Iterator first, Iterator last) {
    const auto n = last - first;
    for (auto i = n - 1; i > 0; --i) {
      const auto j = static_cast<decltype(i)>(below(static_cast<uint64_t>(i) + 1));
      if (i != j) std::swap(first[i], first[j]);
    }
  }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  uint64_t key_ = 0;
  uint64_t counter_ = 0;
};

}  // namespace agreid::data
