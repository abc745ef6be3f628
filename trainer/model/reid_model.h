// ReidModel: CLIP-ReID's image model (method.md §1.1, §1.6). The CLIP vision tower in re-ID
// geometry (input size, patch stride, SIE), BNNecks on f (width) and f_proj (embed dim) with
// weight 1, bias 0 and the bias frozen, and bias-free classifiers initialised normal(0, 0.001).
//
// Parameter names: visual.* (as VisionTransformer, with visual.cv_embed under SIE), bottleneck,
// bottleneck_proj, classifier.weight, classifier_proj.weight.
// Not thread-safe (a torch::nn::Module); every rank builds its own.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "trainer/model/clip_model.h"
#include "trainer/model/vision_transformer.h"
#include "trainer/options.h"

namespace torch::nn {
class BatchNorm1dImpl;
}

namespace agreid::trainer {

struct ReidModelOptions {
  int64_t num_classes = 0;  // training identities (classifier rows)
  int64_t num_cameras = 0;  // SIE camera embedding rows (needed when sie is on)
  int64_t image_height = 256;
  int64_t image_width = 128;
  int64_t stride = 16;  // 16, or 12 for OLP
  bool sie = true;
  double sie_coe = 1.0;

  // From the [model] config section plus what the dataset and transforms determine.
  static ReidModelOptions fromConfig(const ModelOptions& model, int64_t image_height,
                                     int64_t image_width, int64_t num_classes, int64_t num_cameras);
};

// Training outputs (method.md §1.4).
struct ReidOutput {
  at::Tensor f_last;      // [B, width]
  at::Tensor f;           // [B, width]
  at::Tensor f_proj;      // [B, embed]
  at::Tensor score;       // [B, classes]: classifier(BN(f))
  at::Tensor score_proj;  // [B, classes]: classifier_proj(BN(f_proj))
};

class ReidModel : public torch::nn::Module {
 public:
  // Copies the vision weights of `clip` (positional grid resized to the re-ID grid).
  ReidModel(const ClipModel& clip, const ReidModelOptions& options);
  // Randomly initialised vision tower of `arch` (tests, benchmarks, training from scratch).
  ReidModel(const ClipArch& arch, const ReidModelOptions& options);

  // cameras [B] int64, required under SIE (ignored otherwise). BN uses batch statistics in
  // training mode, running statistics in eval mode.
  ReidOutput forwardTrain(const at::Tensor& images, const at::Tensor& cameras) const;
  // The test feature: cat(f, f_proj), pre-BN ("before"), L2-normalised. [B, width + embed].
  at::Tensor forwardTest(const at::Tensor& images, const at::Tensor& cameras) const;

  const ReidModelOptions& options() const { return options_; }
  int64_t featureDim() const;

  std::shared_ptr<VisionTransformer> visual;
  std::shared_ptr<torch::nn::BatchNorm1dImpl> bottleneck, bottleneck_proj;
  at::Tensor classifier, classifier_proj;  // [classes, width], [classes, embed]

 private:
  void build(const VisionConfig& pretrained);

  ReidModelOptions options_;
};

}  // namespace agreid::trainer
