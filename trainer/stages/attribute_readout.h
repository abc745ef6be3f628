// Attribute readout: zero-shot discrete attributes per identity, for auditing pseudo-labels.
//
// A vocabulary lists attribute groups, each with one text prompt per value ("a photo of a person
// wearing a red top"). An identity's value in a group is the prompt whose (L2-normalised) CLIP
// text feature is closest in cosine to the identity's feature: its learned prompt's text feature
// (the pseudo-label readout) or the mean of its images' features (the image readout).
//
// Vocabulary sources: `stage1.attribute_vocabulary` lines "group: template with {}|value|value..."
// or, for the synthetic world, the prompts of data/synth_world.h. Groups whose name and value
// names match the dataset's stored attributes also get ground truth (the majority value over an
// identity's training images), so accuracy can be measured.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

namespace agreid::data {
class DatasetReader;
}

namespace agreid::trainer {

class ClipTokenizer;
class TextTransformer;

struct ReadoutVocabulary {
  std::vector<std::string> groups;                // group names
  std::vector<std::vector<std::string>> values;   // value names per group
  std::vector<std::vector<std::string>> prompts;  // one prompt per value
  std::vector<int> dataset_attribute;             // matching stored attribute, or -1
  bool empty() const { return groups.empty(); }
};

// Throws InputError naming the line for a malformed configured entry.
ReadoutVocabulary readoutVocabulary(const data::DatasetReader& reader,
                                    const std::vector<std::string>& configured);

// Text features of every group's prompts through `text`, without gradient: [values_g, D] on the
// CPU per group.
std::vector<at::Tensor> readoutPromptFeatures(const ClipTokenizer& tokenizer,
                                              const TextTransformer& text,
                                              const ReadoutVocabulary& vocab, c10::Device device);

// features [num_ids, D]; value_features[g] [values_g, D]. Returns [num_ids, groups] int64.
at::Tensor readoutAttributes(const at::Tensor& features,
                             const std::vector<at::Tensor>& value_features);

// The ground truth of each (identity, group): the identity's stored value of the group's matching
// attribute, from identityAttributes() (attribute_tokens.h) [num_ids, A]; -1 where the group has
// no stored attribute. Undefined tensor when no group has ground truth.
at::Tensor readoutGroundTruth(const at::Tensor& identity_attributes,
                              const ReadoutVocabulary& vocab);

// One line per group with ground truth: the pseudo-label readout's accuracy, the image readout's,
// and the majority-class baseline over the same identities.
std::vector<std::string> describeReadout(const std::vector<std::string>& groups,
                                         const at::Tensor& predicted, const at::Tensor& image,
                                         const at::Tensor& truth);

// Fraction of (identity, group) cells with ground truth that match; -1 when none.
double readoutAccuracy(const at::Tensor& predicted, const at::Tensor& truth);

}  // namespace agreid::trainer
