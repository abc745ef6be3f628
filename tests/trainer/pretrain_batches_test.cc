// Hard-negative batches of CLIP pretraining (trainer/stages/pretrain_batches.h).
#include "trainer/stages/pretrain_batches.h"

#include <gtest/gtest.h>

#include <set>

namespace agreid::trainer {
namespace {

// `people` persons with `images` samples each, in file order; attribute columns: {group, other},
// the group of person p is p % `groups`.
struct World {
  std::vector<int64_t> train;
  std::vector<int32_t> pid;
  std::vector<int32_t> attributes;
};

World makeWorld(int people, int images, int groups) {
  World w;
  for (int p = 0; p < people; ++p) {
    for (int i = 0; i < images; ++i) {
      w.train.push_back(static_cast<int64_t>(w.pid.size()));
      w.pid.push_back(1000 + p);
      w.attributes.push_back(p % groups);
      w.attributes.push_back(i);  // differs between a person's images: not part of the key
    }
  }
  return w;
}

TEST(PretrainBatches, PeopleAreGroupedByTheirAttributeValues) {
  const World w = makeWorld(10, 3, 4);
  const PretrainPeople people = groupPretrainPeople(w.train, w.pid, w.attributes, 2, {0});
  ASSERT_EQ(people.samples.size(), 10u);
  for (size_t p = 0; p < 10; ++p) {
    EXPECT_EQ(people.samples[p],
              (std::vector<int64_t>{static_cast<int64_t>(3 * p), static_cast<int64_t>(3 * p + 1),
                                    static_cast<int64_t>(3 * p + 2)}));
    EXPECT_EQ(people.group[p], static_cast<int64_t>(p % 4));  // groups numbered as first met
  }
  // Keyed by nothing: one group.
  const PretrainPeople one = groupPretrainPeople(w.train, w.pid, w.attributes, 2, {});
  EXPECT_EQ(std::set<int64_t>(one.group.begin(), one.group.end()).size(), 1u);
}

// Group sizes that are multiples of the chunk: the epoch is whole chunks of one group each, every
// person at most once, each sample one of that person's images.
TEST(PretrainBatches, AnEpochIsChunksOfPeopleWhoShareTheirAttributes) {
  const int people_n = 96, images = 5, groups = 3, chunk = 8, batch = 32;
  const World w = makeWorld(people_n, images, groups);
  const PretrainPeople people = groupPretrainPeople(w.train, w.pid, w.attributes, 2, {0});
  HardNegativeBatching o;
  o.batch_size = batch;
  o.group_people = chunk;
  o.seed = 11;
  const std::vector<int64_t> epoch = hardNegativeEpoch(people, o, 0);
  ASSERT_EQ(epoch.size(), static_cast<size_t>(people_n / batch * batch));
  std::set<int32_t> seen;
  for (size_t at = 0; at < epoch.size(); at += chunk) {
    const int32_t group = w.attributes[2 * epoch[at]];
    for (size_t k = at; k < at + chunk; ++k) {
      EXPECT_EQ(w.attributes[2 * epoch[k]], group) << "position " << k;
      EXPECT_TRUE(seen.insert(w.pid[epoch[k]]).second) << "person twice, position " << k;
    }
  }
  // Mixed groups across a batch's chunks (all in one group would never ask for the key's
  // attributes): some batch holds two groups.
  bool mixed = false;
  for (size_t b = 0; b < epoch.size(); b += batch) {
    std::set<int32_t> in_batch;
    for (size_t k = b; k < b + batch; ++k) in_batch.insert(w.attributes[2 * epoch[k]]);
    mixed = mixed || in_batch.size() > 1;
  }
  EXPECT_TRUE(mixed);
}

TEST(PretrainBatches, SameSeedAndEpochSameBatchesOtherEpochOthers) {
  const World w = makeWorld(70, 4, 5);  // groups of 14: chunks of 4, 4, 4, 2
  const PretrainPeople people = groupPretrainPeople(w.train, w.pid, w.attributes, 2, {0});
  HardNegativeBatching o;
  o.batch_size = 16;
  o.group_people = 4;
  o.seed = 3;
  const auto a = hardNegativeEpoch(people, o, 2);
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(hardNegativeEpoch(people, o, 2), a);
  EXPECT_NE(hardNegativeEpoch(people, o, 3), a);
  o.seed = 4;
  EXPECT_NE(hardNegativeEpoch(people, o, 2), a);
  // Fewer people than a batch: no batch.
  o.batch_size = 71;
  EXPECT_TRUE(hardNegativeEpoch(people, o, 0).empty());
}

}  // namespace
}  // namespace agreid::trainer
