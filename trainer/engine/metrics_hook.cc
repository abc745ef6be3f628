#include "trainer/engine/metrics_hook.h"

#include <cstdio>

namespace agreid::trainer {

MetricsHook::MetricsHook(MetricsHookOptions opts, RunMetrics& metrics, const Log& log)
    : opts_(std::move(opts)), metrics_(metrics), log_(log) {}

void MetricsHook::beforeTrain(TrainState& state) {
  ProgressOptions po;
  po.label = opts_.label;
  po.total = state.totalSteps();
  po.unit = "steps";
  po.start = state.step;
  progress_ = std::make_unique<Progress>(log_, po);
}

bool MetricsHook::needsLoss(const TrainState& state) const {
  return opts_.log_every > 0 &&
         (state.step % opts_.log_every == 0 || state.step >= state.totalSteps());
}

std::string MetricsHook::progressDetail(const TrainState& state) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "epoch %lld/%lld loss %.4f lr %.3g",
                static_cast<long long>(state.epoch + 1), static_cast<long long>(state.max_epochs),
                state.loss, state.lr);
  return buf;
}

void MetricsHook::afterStep(TrainState& state) {
  if (!needsLoss(state)) return;
  if (progress_) progress_->update(state.step, progressDetail(state));
  if (log_.rank() != 0) return;
  MetricsRecord record;
  record.step = state.step;
  record.epoch = state.epoch;
  record.lr = state.lr;
  record.loss = state.loss;
  record.images_per_s = state.images_per_s;
  record.terms = state.loss_terms;
  if (opts_.tag != "train") record.stage = opts_.tag;
  const std::string& t = opts_.tag;
  std::map<std::string, double> scalars = {
      {t + "/loss", state.loss}, {t + "/lr", state.lr}, {t + "/images_per_s", state.images_per_s}};
  for (const auto& [name, value] : state.loss_terms) scalars[t + "/" + name] = value;
  metrics_.write(JsonlWriter::toJson(record), state.step, scalars);
}

void MetricsHook::afterTrain(TrainState& state) {
  if (!progress_) return;
  char detail[64];
  std::snprintf(detail, sizeof(detail), "%s at step %lld, loss %.4f",
                state.stop_requested ? "stopped" : "finished", static_cast<long long>(state.step),
                state.loss);
  progress_->finish(detail);
  progress_.reset();
}

}  // namespace agreid::trainer
