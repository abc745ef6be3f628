// MetricsHook: every `log_every` steps (and at the last step) rank 0 writes a record to the run's
// metrics (RunMetrics: metrics.jsonl, and the scalars <tag>/loss, <tag>/lr, <tag>/images_per_s,
// <tag>/<term> to TensorBoard) and reports progress (base/progress.h: steps, rate, ETA, epoch,
// loss, lr) in the Log's progress style. Other ranks write nothing. The loss values are whatever
// the step function reported (the engine averages them over ranks). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/log.h"
#include "base/progress.h"
#include "trainer/engine/metrics_writers.h"
#include "trainer/engine/train_hook.h"
#include "trainer/options.h"

namespace agreid::trainer {

struct MetricsHookOptions {
  int64_t log_every = kDefaultLogEvery;
  // The stage: TensorBoard tags are "<tag>/loss", ...; a non-empty tag other than "train" is
  // also written as "stage" into each metrics.jsonl record.
  std::string tag = "train";
  std::string label = "training";  // the progress line's label ("stage 2")
};

class MetricsHook : public TrainHook {
 public:
  // `metrics` must outlive the hook.
  MetricsHook(MetricsHookOptions opts, RunMetrics& metrics, const Log& log);
  void beforeTrain(TrainState& state) override;
  void afterStep(TrainState& state) override;
  void afterTrain(TrainState& state) override;
  bool needsLoss(const TrainState& state) const override;

  // The progress line's detail: "epoch 3/4 loss 0.5000 lr 0.0001".
  static std::string progressDetail(const TrainState& state);

 private:
  MetricsHookOptions opts_;
  RunMetrics& metrics_;
  Log log_;
  std::unique_ptr<Progress> progress_;
};

}  // namespace agreid::trainer
