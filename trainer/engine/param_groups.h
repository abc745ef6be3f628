// Optimiser parameter groups (method.md §1.4, CLIP-ReID solver/make_optimizer.py): one group per
// trainable tensor; tensors whose name contains "bias" get lr * bias_lr_factor and
// weight_decay_bias; tensors whose name starts with an excluded prefix, and tensors that do not
// require grad, are left out; optional per-prefix lr factors (e.g. the attribute encoder).
//
// Pure functions of the module's named parameters; not thread-safe with concurrent module edits.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace agreid::trainer {

struct ParamGroupOptions {
  double lr = 5e-6;
  double weight_decay = 1e-4;
  double bias_lr_factor = 2.0;
  double weight_decay_bias = 1e-4;
  std::vector<std::string> exclude_prefixes;
  // (name prefix, lr factor): the first matching prefix multiplies the tensor's lr.
  std::vector<std::pair<std::string, double>> lr_factors;
};

struct ParamGroup {
  std::string name;  // the parameter's name in the module
  torch::Tensor param;
  double lr = 0.0;  // base lr (before any schedule)
  double weight_decay = 0.0;
};

// Groups in named_parameters() order.
std::vector<ParamGroup> buildParamGroups(const torch::nn::Module& module,
                                         const ParamGroupOptions& opts);

// The base lr of each group, in order (what LrScheduleHook takes).
std::vector<double> baseLrs(const std::vector<ParamGroup>& groups);

struct AdamSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// torch::optim::Adam with one param group per ParamGroup (lr and weight decay per group).
std::unique_ptr<torch::optim::Adam> makeAdam(const std::vector<ParamGroup>& groups,
                                             const AdamSettings& settings = {});

}  // namespace agreid::trainer
