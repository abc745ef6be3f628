// VisionTransformer: CLIP's ViT image tower with the re-ID extensions of CLIP-ReID (method.md
// §1.1): a configurable patch stride (OLP: stride 12 over 16x16 patches), a non-square token grid,
// and SIE (a learnable camera embedding added to the class token before the positional embedding).
//
// Parameter names follow OpenAI's "visual." sub-tree: conv1.weight, class_embedding,
// positional_embedding, ln_pre, transformer.resblocks.N.*, ln_post, proj; plus cv_embed with SIE.
// Not thread-safe (a torch::nn::Module).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>

#include "trainer/model/clip_layers.h"

namespace agreid::trainer {

struct VisionConfig {
  int64_t width = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t patch_size = 16;
  int64_t stride = 16;  // patch stride: patch_size, or less for overlapping patches (OLP)
  int64_t grid_h = 14;  // token grid rows: (image_height - patch_size) / stride + 1
  int64_t grid_w = 14;
  int64_t output_dim = 512;
  int64_t num_cameras = 0;  // > 0: SIE camera embedding cv_embed [num_cameras, width]
  double sie_coe = 1.0;
};

// Token grid size along one side: (image - patch) / stride + 1. Throws InputError when the image
// is smaller than a patch.
int64_t gridSize(int64_t image, int64_t patch_size, int64_t stride);

// The class-token features of a batch (method.md §1.1).
struct VisionFeatures {
  at::Tensor f_last;  // [B, width]: class token after layers-1 blocks (x11), no ln_post
  at::Tensor f;       // [B, width]: class token after all blocks and ln_post (x12)
  at::Tensor f_proj;  // [B, output_dim]: f @ proj
};

class VisionTransformer : public torch::nn::Module {
 public:
  explicit VisionTransformer(const VisionConfig& config);

  // images [B, 3, H, W] with (H - patch) / stride + 1 == grid_h (likewise W); cameras [B] int64
  // in [0, num_cameras) when SIE is on (ignored otherwise). Throws InputError on a wrong image
  // size.
  VisionFeatures forward(const at::Tensor& images, const at::Tensor& cameras = {}) const;

  // OpenAI's initialisation (class/positional embeddings and proj normal(width^-0.5), blocks as
  // ResidualAttentionBlock::resetParameters, cv_embed trunc-normal(0.02)).
  void resetParameters();

  // Copies every tensor of `source` (same width/layers/patch/output_dim) into this tower; the
  // positional grid is resized bilinearly (align_corners=False) when the grids differ, the class
  // row is kept. cv_embed is not copied (SIE is re-ID specific).
  void copyPretrained(const VisionTransformer& source);

  const VisionConfig& config() const { return config_; }

  at::Tensor conv1_weight, class_embedding, positional_embedding, proj, cv_embed;
  std::shared_ptr<ParamPair> conv1, ln_pre, ln_post;
  std::shared_ptr<Transformer> transformer;

 private:
  VisionConfig config_;
};

// Resizes a positional table [1 + gh*gw, W] to [1 + new_h*new_w, W]: the class row is kept, the
// grid is resized with bilinear interpolation, align_corners=False (CLIP-ReID resize_pos_embed).
at::Tensor resizePositionalEmbedding(const at::Tensor& pos, int64_t grid_h, int64_t grid_w,
                                     int64_t new_h, int64_t new_w);

// Truncated normal in [mean - 2, mean + 2] (timm's trunc_normal_ bounds), in place.
void truncNormal(at::Tensor& t, double std);

}  // namespace agreid::trainer
