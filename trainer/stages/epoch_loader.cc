#include "trainer/stages/epoch_loader.h"

#include "base/check.h"

namespace agreid::trainer {
namespace {

class ReleaseLoaderHook : public TrainHook {
 public:
  explicit ReleaseLoaderHook(EpochLoader& loader) : loader_(loader) {}
  void afterEpoch(TrainState&) override { loader_.release(); }
  void afterTrain(TrainState&) override { loader_.release(); }

 private:
  EpochLoader& loader_;
};

}  // namespace

EpochLoader::EpochLoader(std::string dataset, data::LoaderOptions options, PlanFunction plan)
    : dataset_(std::move(dataset)), options_(options), plan_(std::move(plan)) {}

data::Batch EpochLoader::next(const TrainState& state) {
  if (!loader_ || epoch_ != state.epoch || next_batch_ != state.batch_in_epoch) {
    loader_.reset();
    data::LoaderPlan plan = plan_(state.epoch);
    plan.start_batch = state.batch_in_epoch;
    plan.epoch = state.epoch;
    loader_ = std::make_unique<data::Loader>(dataset_, std::move(plan), options_);
    epoch_ = state.epoch;
  }
  auto batch = loader_->next();
  AGREID_CHECK(batch.has_value(), "loader ran out of batches at epoch ", state.epoch, " batch ",
               state.batch_in_epoch);
  next_batch_ = state.batch_in_epoch + 1;
  return std::move(*batch);
}

std::unique_ptr<TrainHook> EpochLoader::releaseHook() {
  return std::make_unique<ReleaseLoaderHook>(*this);
}

}  // namespace agreid::trainer
