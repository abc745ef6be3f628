#include "trainer/engine/loss_window.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "base/check.h"
#include "comm/communicator.h"

namespace agreid::trainer {

void LossWindow::add(const at::Tensor& loss, const std::map<std::string, at::Tensor>& terms,
                     int64_t step, int64_t images) {
  AGREID_CHECK(loss.defined(), "a step must report its loss tensor");
  std::vector<at::Tensor> values = {loss.detach().reshape({})};
  std::vector<std::string> names = {"loss"};
  for (const auto& [name, value] : terms) {
    AGREID_CHECK(value.defined(), "loss term '", name, "' has no value");
    names.push_back(name);
    values.push_back(value.detach().to(loss.device(), /*non_blocking=*/true).reshape({}));
  }
  const at::Tensor now = torch::stack(values).to(torch::kDouble);
  // The step number where a value is not finite, +inf elsewhere: no host synchronisation.
  const at::Tensor bad = torch::full_like(now, static_cast<double>(step))
                             .masked_fill_(now.isfinite(), std::numeric_limits<double>::infinity());
  if (steps_ == 0) {
    names_ = std::move(names);
    sums_ = now;
    first_bad_ = bad;
  } else {
    AGREID_CHECK(names == names_, "the step's loss terms changed within a window");
    sums_ = sums_ + now;
    first_bad_ = at::minimum(first_bad_, bad);
  }
  ++steps_;
  images_ += images;
}

LossMeans LossWindow::read(comm::Communicator* comm) {
  LossMeans out;
  if (steps_ == 0) return out;
  at::Tensor sums = sums_.contiguous();
  at::Tensor first_bad = first_bad_.contiguous();
  double ranks = 1.0;
  if (comm != nullptr && comm->size() > 1) {
    comm->allReduce(sums, {comm::ReduceOp::kSum})->wait();
    comm->allReduce(first_bad, {comm::ReduceOp::kMin})->wait();
    ranks = comm->size();
  }
  const at::Tensor host_sums = sums.to(torch::kCPU);
  const at::Tensor host_bad = first_bad.to(torch::kCPU);
  const double divisor = ranks * static_cast<double>(steps_);
  for (size_t i = 0; i < names_.size(); ++i) {
    const double mean = host_sums[static_cast<int64_t>(i)].item<double>() / divisor;
    if (i == 0) {
      out.loss = mean;
    } else {
      out.loss_terms[names_[i]] = mean;
    }
  }
  // The earliest non-finite value; at the same step a named term before the total it makes up.
  for (size_t k = 1; k <= names_.size(); ++k) {
    const size_t i = k % names_.size();
    const double bad = host_bad[static_cast<int64_t>(i)].item<double>();
    if (std::isfinite(bad) &&
        (out.first_non_finite_step < 0 || static_cast<int64_t>(bad) < out.first_non_finite_step)) {
      out.first_non_finite_step = static_cast<int64_t>(bad);
      out.non_finite_term = names_[i];
    }
  }
  out.steps = steps_;
  out.images = images_;
  steps_ = 0;
  images_ = 0;
  sums_ = at::Tensor();
  first_bad_ = at::Tensor();
  return out;
}

}  // namespace agreid::trainer
