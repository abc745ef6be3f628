// How CLIP pretraining composes its global batches (pretrain.hard_negatives, docs/pipeline.md).
//
// By default an epoch is a seeded permutation of the training pairs. With hard negatives, an
// epoch visits every training person once, one seeded choice of their images each, and each
// global batch is made of chunks of `group_people` people who share the stored values of the
// named attributes: inside a chunk the contrastive loss can only tell people apart by their other
// attributes (small regions such as hair, shoes or a bag), which a random batch of 128 people,
// told apart by gender and garment colours alone, never asks for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

struct HardNegativeBatching {
  int64_t batch_size = 128;   // global batch
  int64_t group_people = 16;  // people per chunk that share the grouping attributes
  uint64_t seed = 0;
};

// The people of the training pairs and their grouping key.
struct PretrainPeople {
  std::vector<std::vector<int64_t>> samples;  // per person: its training sample indices
  std::vector<int64_t> group;                 // per person: id of its attribute values
};

// Groups `train` (sample indices) by person (`pid` per sample of the file), keyed by the stored
// values (`attributes`: per sample, `stride` values row-major) of the attribute columns `columns`,
// taken from each person's first training sample. People appear in order of first appearance.
PretrainPeople groupPretrainPeople(const std::vector<int64_t>& train,
                                   const std::vector<int32_t>& pid,
                                   const std::vector<int32_t>& attributes, int64_t stride,
                                   const std::vector<int>& columns);

// Global batches of one epoch, flattened: floor(people / batch_size) batches of batch_size sample
// indices. The same on every rank for the same seed and epoch.
std::vector<int64_t> hardNegativeEpoch(const PretrainPeople& people, const HardNegativeBatching& o,
                                       int64_t epoch);

}  // namespace agreid::trainer
