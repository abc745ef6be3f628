// Zero-shot quality of a CLIP on people it never saw (issue: a CLIP that knows attributes).
//
// Pretraining holds out whole people: every image of a held-out person is excluded from training
// (splitHeldOutPeople). The report then measures, on those people only,
//  - per attribute: zero-shot accuracy (one prompt per value, the value whose text feature is
//    closest in cosine to the image feature) over every held-out image, next to the majority-class
//    baseline (always answering the value most frequent among the training images);
//  - caption retrieval among the held-out people: one image per person against one caption per
//    person (image -> caption Recall@1/5).
//
// Pure functions of tensors (no communication); thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

struct HeldOutSplit {
  std::vector<int64_t> train;    // sample indices used for training, in file order
  std::vector<int64_t> holdout;  // every sample of a held-out person, in file order
  std::vector<int64_t> people;   // one sample per held-out person (its first), for retrieval
};

// Holds out `people` persons (a seeded choice among the distinct `pids`; at most a fifth of them).
HeldOutSplit splitHeldOutPeople(const std::vector<int32_t>& pids, int64_t people, uint64_t seed);

struct AttributeScore {
  std::string name;
  int64_t values = 0;   // number of values (prompts)
  int64_t images = 0;   // held-out images with a stored value
  double accuracy = 0;  // zero-shot
  double majority = 0;  // majority-class baseline on the same images
  // The same on the images where the attribute's body region is at least half visible (-1: the
  // dataset stores no visibility): what a CLIP can read at all.
  int64_t visible_images = 0;
  double visible_accuracy = -1, visible_majority = -1;
};

struct ZeroShotReport {
  int64_t people = 0;  // held-out people
  int64_t images = 0;  // their images
  std::vector<AttributeScore> attributes;
  double colour_accuracy = -1;  // mean over the attributes named *colour (-1: none)
  double colour_majority = -1;
  double colour_visible_accuracy = -1;  // the same where visible (-1: no visibility)
  double colour_visible_majority = -1;
  double recall1 = 0, recall5 = 0;  // image -> caption among the held-out people
};

// image_features [M, D] of held-out images; truth [M, G] int64 (the stored value of group g, -1
// none); value_features[g] [V_g, D]; majority [G] int64 (-1: no baseline); visibility [M, G]
// float or undefined. Fills `attributes` and the colour summary of `report`.
void scoreZeroShotAttributes(const at::Tensor& image_features, const at::Tensor& truth,
                             const std::vector<at::Tensor>& value_features,
                             const std::vector<std::string>& names, const at::Tensor& majority,
                             ZeroShotReport& report, const at::Tensor& visibility = {});

// The value most frequent in each column of `values` [N, G] (ignoring -1); -1 for an empty column.
at::Tensor majorityValues(const at::Tensor& values);

// Image -> text Recall@1 and @5, where image i's own caption is text i (cosine similarity; ties
// count against the own caption's rank only when strictly higher).
std::pair<double, double> retrievalRecall(const at::Tensor& image, const at::Tensor& text);

// One line per attribute ("upper_colour 0.873 (majority 0.112, 10 values)") and the summary.
std::vector<std::string> describeZeroShot(const ZeroShotReport& report);

}  // namespace agreid::trainer
