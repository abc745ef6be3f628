// MetricsHook: every `log_every` steps (and at the last step) rank 0 appends a record to
// <run_dir>/metrics.jsonl, writes the scalars (<tag>/loss, <tag>/lr, <tag>/images_per_s,
// <tag>/<term>) to a TensorBoard event file in <run_dir>/tensorboard, and reports progress: a
// one-line bar (step, it/s, ETA, loss) redrawn in place when the output is a terminal, plain
// periodic lines otherwise. Other ranks do nothing. The loss values are whatever the step
// function reported (it averages them over ranks). Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "trainer/engine/metrics_writers.h"
#include "trainer/engine/progress_style.h"
#include "trainer/engine/train_hook.h"

namespace agreid::trainer {

// Formats progress reports; pure apart from the clock the caller passes in.
class ProgressReporter {
 public:
  ProgressReporter(ProgressStyle style, std::FILE* out);
  // Reports `state`; steps_per_s is the recent rate (0: unknown).
  void report(const TrainState& state, double steps_per_s);
  void finish();
  // "00:01:05" for 65 s; "--:--:--" when unknown.
  static std::string formatDuration(double seconds);
  static std::string line(const TrainState& state, double steps_per_s);

 private:
  ProgressStyle style_;
  std::FILE* out_;
  bool drew_bar_ = false;
};

struct MetricsHookOptions {
  std::string run_dir;
  int64_t log_every = 10;
  ProgressStyle progress = ProgressStyle::kAuto;
  bool tensorboard = true;
  // The stage: TensorBoard tags are "<tag>/loss", ...; a non-empty tag other than "train" is
  // also written as "stage" into each metrics.jsonl record.
  std::string tag = "train";
};

class MetricsHook : public TrainHook {
 public:
  // `rank`: only rank 0 writes. Files are opened in beforeTrain.
  MetricsHook(MetricsHookOptions opts, int rank, std::FILE* progress_out = stdout);
  void beforeTrain(TrainState& state) override;
  void afterStep(TrainState& state) override;
  void afterTrain(TrainState& state) override;
  bool needsLoss(const TrainState& state) const override;

 private:
  MetricsHookOptions opts_;
  int rank_;
  ProgressReporter progress_;
  std::unique_ptr<JsonlWriter> jsonl_;
  std::unique_ptr<EventFileWriter> events_;
  std::chrono::steady_clock::time_point last_time_;
  int64_t last_step_ = 0;
  double steps_per_s_ = 0.0;
};

}  // namespace agreid::trainer
