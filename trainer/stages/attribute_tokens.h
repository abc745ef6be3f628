// Attribute structure of pseudo-label tokens: which tokens form a block (a run of adjacent
// placeholders in the template), oracle tokens built from an identity's true attribute words, the
// permuted control, and the per-block probe that says whether learned tokens carry attributes
// (docs/pipeline.md, "Diagnostics").
//
// `token_attributes` (stage1.token_attributes) names, for each of the r placeholders, the stored
// dataset attribute that placeholder stands for ("" for none), e.g. for the default template
// "A photo of a X X person with X X hair, ..." -> {"gender", "", "hair_colour", "hair_length",
// ...}.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::data {
class DatasetReader;
struct DatasetInfo;
}  // namespace agreid::data

namespace agreid::trainer {

class ClipTokenizer;
class TextTransformer;

// Runs of adjacent placeholder positions: block b holds token indices (0..r-1).
std::vector<std::vector<int64_t>> tokenBlocks(const std::vector<int64_t>& placeholder_positions);

// The stored attributes of each identity: the majority value over its samples `indices` (with
// training labels `labels`): [num_ids, A] int64, -1 where unknown. Undefined when the dataset
// stores no attributes.
at::Tensor identityAttributes(const data::DatasetReader& reader,
                              const std::vector<int64_t>& indices,
                              const std::vector<int64_t>& labels, int64_t num_ids);

// Index of each entry of `token_attributes` among the dataset's stored attributes (-1 for "").
// Throws InputError naming stage1.token_attributes when an entry names no stored attribute or the
// list does not have `r` entries.
std::vector<int> tokenAttributeIndices(const data::DatasetInfo& info,
                                       const std::vector<std::string>& token_attributes, int64_t r);

// Oracle pseudo-labels [num_ids, r, width]: token j of identity k is the word embedding of the
// value name of its attribute (the mean over the word's BPE tokens, e.g. "shoulder bag"), or
// `placeholder` [width] (the template's own "x" embedding) where the token stands for nothing.
at::Tensor oracleTokens(const ClipTokenizer& tokenizer, const TextTransformer& text,
                        const data::DatasetInfo& info, const at::Tensor& identity_attributes,
                        const std::vector<int>& token_attribute, const at::Tensor& placeholder);

// The control: identity k gets the tokens of identity perm[k] (a seeded permutation), which keeps
// every token set but breaks its link to the identity's appearance.
at::Tensor permuteIdentities(const at::Tensor& tokens, uint64_t seed);

struct TokenProbe {
  std::vector<std::string> attributes;  // probed attributes (stored, with known values)
  std::vector<std::string> blocks;      // block names ("hair_colour+hair_length", "block 6")
  std::vector<int> own_block;           // per attribute: the block holding its token, -1: none
  at::Tensor accuracy;                  // [attributes, blocks] double
  at::Tensor majority;                  // [attributes] double: majority-class baseline
};

// For each attribute and each block, leave-one-identity-out 1-nearest-neighbour accuracy (cosine
// over the block's concatenated tokens) of predicting the identity's attribute value from the
// nearest other identity's. A stage 1 whose tokens carry attributes shows a dominant diagonal:
// each attribute best predicted from its own block.
TokenProbe probeTokenBlocks(const at::Tensor& tokens,
                            const std::vector<std::vector<int64_t>>& blocks,
                            const at::Tensor& identity_attributes,
                            const std::vector<std::string>& attribute_names,
                            const std::vector<int>& token_attribute);

// Lines of a table: one row per attribute, its own block marked with '*'; and the number of
// attributes best predicted by their own block.
std::vector<std::string> describeProbe(const TokenProbe& probe);
int diagonalWins(const TokenProbe& probe);

}  // namespace agreid::trainer
