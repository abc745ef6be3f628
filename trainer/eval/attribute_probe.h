// A linear attribute probe on re-ID features: how well a linear read-out of a model's test
// features predicts each ground-truth attribute, split by whether the attribute's body region is
// visible in the image (the mechanism experiment of AG-ReID, docs/results.md).
//
// The probe is a ridge-regression classifier (one-hot targets, a bias, closed-form solution)
// trained and tested with k-fold cross-validation over identities: the images of one identity
// are all in the same fold, so the probe never sees the person it is asked about. Each test image
// and attribute is counted as visible when the stored visibility of the attribute's region is
// >= `visible_threshold` (the oracle mask's rule), hidden otherwise. Next to each accuracy is the
// majority-class baseline on the same cells (the value most frequent in the training folds).
//
// Pure function of tensors; deterministic; thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

struct AttributeProbeOptions {
  int64_t folds = 5;
  double ridge = 1.0;  // L2 penalty of the closed-form solution (features are unit vectors)
  double visible_threshold = 0.5;
};

struct ProbeAccuracy {
  int64_t cells = 0;                  // (image, attribute) pairs scored
  double accuracy = 0, majority = 0;  // NaN (null in JSON) without cells
};

struct AttributeProbeGroup {
  std::string name;
  int64_t values = 0;
  ProbeAccuracy all, visible, hidden;
};

struct AttributeProbeReport {
  int64_t images = 0, identities = 0, folds = 0;
  bool has_visibility = false;
  std::vector<AttributeProbeGroup> groups;
  ProbeAccuracy all, visible, hidden;  // over every cell of every group
};

// features [N, D]; pids [N]; truth [N, G] int64 (-1: no stored value, skipped); visibility
// [N, G] float or undefined (then only `all` is filled); names [G]. Needs at least 2 identities.
AttributeProbeReport probeAttributes(const at::Tensor& features, const std::vector<int64_t>& pids,
                                     const at::Tensor& truth, const at::Tensor& visibility,
                                     const std::vector<std::string>& names,
                                     const AttributeProbeOptions& options);

// attribute_probe.json: {"images":..,"identities":..,"folds":..,"all":{"accuracy":..,
// "majority":..,"cells":..},"visible":{..},"hidden":{..},"groups":{"<name>":{"values":..,
// "all":{..},"visible":{..},"hidden":{..}}}} (visible/hidden only with visibility).
std::string attributeProbeJson(const AttributeProbeReport& report);

// One summary line, then one line per attribute.
std::vector<std::string> describeAttributeProbe(const AttributeProbeReport& report);

}  // namespace agreid::trainer
