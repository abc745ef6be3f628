#include "trainer/engine/param_groups.h"

#include "base/check.h"

namespace agreid::trainer {
namespace {

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::vector<ParamGroup> buildParamGroups(const torch::nn::Module& module,
                                         const ParamGroupOptions& opts) {
  std::vector<ParamGroup> groups;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    if (!item.value().requires_grad()) continue;
    bool excluded = false;
    for (const auto& prefix : opts.exclude_prefixes)
      excluded = excluded || startsWith(name, prefix);
    if (excluded) continue;
    ParamGroup g;
    g.name = name;
    g.param = item.value();
    g.lr = opts.lr;
    g.weight_decay = opts.weight_decay;
    if (name.find("bias") != std::string::npos) {
      g.lr = opts.lr * opts.bias_lr_factor;
      g.weight_decay = opts.weight_decay_bias;
    }
    for (const auto& [prefix, factor] : opts.lr_factors) {
      if (startsWith(name, prefix)) {
        g.lr *= factor;
        break;
      }
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

std::vector<double> baseLrs(const std::vector<ParamGroup>& groups) {
  std::vector<double> lrs;
  for (const auto& g : groups) lrs.push_back(g.lr);
  return lrs;
}

std::unique_ptr<torch::optim::Adam> makeAdam(const std::vector<ParamGroup>& groups,
                                             const AdamSettings& settings) {
  AGREID_CHECK(!groups.empty(), "no trainable parameters for the optimiser");
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const auto& g : groups) {
    auto options = std::make_unique<torch::optim::AdamOptions>(g.lr);
    options->weight_decay(g.weight_decay).betas({settings.beta1, settings.beta2}).eps(settings.eps);
    param_groups.emplace_back(std::vector<torch::Tensor>{g.param}, std::move(options));
  }
  return std::make_unique<torch::optim::Adam>(std::move(param_groups),
                                              torch::optim::AdamOptions(groups.front().lr));
}

}  // namespace agreid::trainer
