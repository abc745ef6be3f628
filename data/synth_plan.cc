#include "data/synth_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/check.h"
#include "base/error.h"
#include "data/counter_rng.h"

namespace agreid::data {
namespace {

std::string marketName(const char* folder, int32_t pid, int16_t camid, int64_t serial) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%s/%04d_c%ds1_%06lld_00.jpg", folder, pid, camid + 1,
                static_cast<long long>(serial));
  return buf;
}

}  // namespace

void validateSynthOptions(const SynthOptions& o) {
  if (o.identities / 2 < 1) {
    throw InputError(
        detail::concat("synth.identities: expected at least 2 (half train, half "
                       "test), got ",
                       o.identities));
  }
  if (o.images_per_identity < 2) {
    throw InputError(
        detail::concat("synth.images_per_identity: expected at least 2 (a query and "
                       "a gallery image per test identity), got ",
                       o.images_per_identity));
  }
  if (o.cameras < 2) {
    throw InputError(detail::concat("synth.cameras: expected at least 2, got ", o.cameras));
  }
  if (o.height < 16 || o.width < 8) {
    throw InputError(detail::concat("synth.height x synth.width: expected at least 16 x 8, got ",
                                    o.height, " x ", o.width));
  }
}

std::vector<SynthJob> planReid(const SynthOptions& o) {
  const int64_t n_train = o.identities / 2;
  const int64_t cams = o.cameras;
  std::vector<SynthJob> jobs;
  int64_t serial = 0;
  for (int64_t idx = 0; idx < o.identities; ++idx) {
    CounterRng rng(o.seed, kReidPlanStream, static_cast<uint64_t>(idx));
    const int32_t pid = static_cast<int32_t>(idx + 1);
    const int64_t n = o.images_per_identity;
    std::vector<int16_t> cam(n);
    for (auto& c : cam) c = static_cast<int16_t>(rng.below(cams));
    auto otherCamera = [&](int16_t c) {
      return static_cast<int16_t>((c + 1 + rng.below(cams - 1)) % cams);
    };
    if (idx < n_train) {
      if (std::all_of(cam.begin(), cam.end(), [&](int16_t c) { return c == cam[0]; }))
        cam[n - 1] = otherCamera(cam[0]);
      for (int64_t j = 0; j < n; ++j) {
        SynthJob job{idx,
                     pid,
                     cam[j],
                     Split::kTrain,
                     static_cast<int32_t>(idx),
                     rng.bernoulli(o.occluded_train_fraction),
                     ""};
        job.path = marketName("bounding_box_train", pid, cam[j], ++serial);
        jobs.push_back(job);
      }
      continue;
    }
    // Test identity: the first q images are queries, the rest gallery. Every query must have a
    // gallery image in another camera: a gallery spanning two cameras guarantees it; a single
    // gallery image forces the queries elsewhere.
    const int64_t q = std::clamp<int64_t>(std::llround(n * o.query_fraction), 1, n - 1);
    const int64_t g = n - q;
    if (g >= 2) {
      if (std::all_of(cam.begin() + q, cam.end(), [&](int16_t c) { return c == cam[q]; }))
        cam[n - 1] = otherCamera(cam[q]);
    } else {
      for (int64_t j = 0; j < q; ++j)
        if (cam[j] == cam[q]) cam[j] = otherCamera(cam[q]);
    }
    for (int64_t j = 0; j < n; ++j) {
      const bool query = j < q;
      SynthJob job{
          idx,    pid,
          cam[j], query ? Split::kQuery : Split::kGallery,
          -1,     rng.bernoulli(query ? o.occluded_query_fraction : o.occluded_gallery_fraction),
          ""};
      job.path = marketName(query ? "query" : "bounding_box_test", pid, cam[j], ++serial);
      jobs.push_back(job);
    }
  }
  return jobs;
}

std::vector<SynthJob> planPretrain(const SynthOptions& o) {
  std::vector<SynthJob> jobs;
  const int64_t ids = o.pretrain_identities;
  for (int64_t i = 0; i < o.pretrain_images; ++i) {
    CounterRng rng(o.seed, kPretrainPlanStream, static_cast<uint64_t>(i));
    const int64_t person = i % ids;
    SynthJob job;
    job.person = person;
    job.pid = static_cast<int32_t>(o.identities + 1 + person);
    job.camid = static_cast<int16_t>(rng.below(o.cameras));
    job.split = Split::kTrain;
    job.label = static_cast<int32_t>(person);
    job.occluded = rng.bernoulli(o.occluded_train_fraction);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "pretrain/%07d_c%d_%08lld.jpg", job.pid, job.camid + 1,
                  static_cast<long long>(i));
    job.path = buf;
    jobs.push_back(job);
  }
  return jobs;
}

}  // namespace agreid::data
