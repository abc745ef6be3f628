// The modules stage 2 trains, under one name space ("reid.", "encoder.") for parameter groups
// (the encoder's lr factor matches "encoder.") and checkpoints.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "trainer/model/attribute_encoder.h"
#include "trainer/model/reid_model.h"

namespace agreid::trainer {

struct Stage2Modules : torch::nn::Module {
  // `enc` may be null (CLIP-ReID, or no attribute guidance).
  Stage2Modules(std::shared_ptr<ReidModel> reid_model, std::shared_ptr<AttributeEncoder> enc) {
    reid = register_module("reid", std::move(reid_model));
    if (enc) encoder = register_module("encoder", std::move(enc));
  }
  std::shared_ptr<ReidModel> reid;
  std::shared_ptr<AttributeEncoder> encoder;
};

}  // namespace agreid::trainer
