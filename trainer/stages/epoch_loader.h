// EpochLoader: the data source of a training step that reads a dataset file. The step asks it for
// the batch (state.epoch, state.batch_in_epoch); it opens the epoch's data::Loader positioned at
// that batch when the epoch changes or on the first call (a resumed run starts mid-epoch), and
// its release hook drops the loader after every epoch and at the end of training, before
// evaluation hooks open the file (HDF5 has one user at a time).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "data/loader.h"
#include "trainer/engine/train_hook.h"

namespace agreid::trainer {

class EpochLoader {
 public:
  // `plan(epoch)` gives the epoch's batches and transforms; start_batch is set here.
  using PlanFunction = std::function<data::LoaderPlan(int64_t epoch)>;
  EpochLoader(std::string dataset, data::LoaderOptions options, PlanFunction plan);

  // The batch of (state.epoch, state.batch_in_epoch).
  data::Batch next(const TrainState& state);
  void release() { loader_.reset(); }

  // A hook that calls release() after every epoch and in afterTrain; the EpochLoader must
  // outlive it.
  std::unique_ptr<TrainHook> releaseHook();

 private:
  std::string dataset_;
  data::LoaderOptions options_;
  PlanFunction plan_;
  std::unique_ptr<data::Loader> loader_;
  int64_t epoch_ = -1;
  int64_t next_batch_ = -1;
};

}  // namespace agreid::trainer
