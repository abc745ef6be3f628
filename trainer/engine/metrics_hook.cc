#include "trainer/engine/metrics_hook.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>

namespace agreid::trainer {

ProgressReporter::ProgressReporter(ProgressStyle style, std::FILE* out) : style_(style), out_(out) {
  if (style_ == ProgressStyle::kAuto) {
    style_ =
        (out_ != nullptr && ::isatty(::fileno(out_))) ? ProgressStyle::kBar : ProgressStyle::kLines;
  }
}

std::string ProgressReporter::formatDuration(double seconds) {
  if (!(seconds >= 0.0) || seconds > 1e8) return "--:--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string ProgressReporter::line(const TrainState& state, double steps_per_s) {
  const int64_t total = state.totalSteps();
  const double eta =
      steps_per_s > 0.0 ? static_cast<double>(total - state.step) / steps_per_s : -1.0;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "step %lld/%lld epoch %lld %.2f it/s ETA %s loss %.4f lr %.3g",
                static_cast<long long>(state.step), static_cast<long long>(total),
                static_cast<long long>(state.epoch), steps_per_s, formatDuration(eta).c_str(),
                state.loss, state.lr);
  return buf;
}

void ProgressReporter::report(const TrainState& state, double steps_per_s) {
  if (out_ == nullptr || style_ == ProgressStyle::kNone) return;
  if (style_ == ProgressStyle::kBar) {
    const int64_t total = std::max<int64_t>(state.totalSteps(), 1);
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(state.step, total) / total);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r[%s] %s\x1b[K", bar.c_str(), line(state, steps_per_s).c_str());
    drew_bar_ = true;
  } else {
    std::fprintf(out_, "%s\n", line(state, steps_per_s).c_str());
  }
  std::fflush(out_);
}

void ProgressReporter::finish() {
  if (drew_bar_ && out_ != nullptr) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
  }
  drew_bar_ = false;
}

MetricsHook::MetricsHook(MetricsHookOptions opts, int rank, std::FILE* progress_out)
    : opts_(std::move(opts)),
      rank_(rank),
      progress_(rank == 0 ? opts_.progress : ProgressStyle::kNone, progress_out) {}

void MetricsHook::beforeTrain(TrainState& state) {
  last_time_ = std::chrono::steady_clock::now();
  last_step_ = state.step;
  if (rank_ != 0) return;
  if (!opts_.run_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opts_.run_dir, ec);
    jsonl_ = std::make_unique<JsonlWriter>(
        (std::filesystem::path(opts_.run_dir) / "metrics.jsonl").string());
    if (opts_.tensorboard) {
      events_ = std::make_unique<EventFileWriter>(
          (std::filesystem::path(opts_.run_dir) / "tensorboard").string());
    }
  }
}

bool MetricsHook::needsLoss(const TrainState& state) const {
  return opts_.log_every > 0 &&
         (state.step % opts_.log_every == 0 || state.step >= state.totalSteps());
}

void MetricsHook::afterStep(TrainState& state) {
  if (!needsLoss(state)) return;
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_time_).count();
  if (seconds > 0.0) steps_per_s_ = static_cast<double>(state.step - last_step_) / seconds;
  last_time_ = now;
  last_step_ = state.step;
  if (rank_ != 0) return;
  MetricsRecord record;
  record.step = state.step;
  record.epoch = state.epoch;
  record.lr = state.lr;
  record.loss = state.loss;
  record.images_per_s = state.images_per_s;
  record.terms = state.loss_terms;
  if (opts_.tag != "train") record.stage = opts_.tag;
  if (jsonl_) jsonl_->write(record);
  if (events_) {
    const std::string& t = opts_.tag;
    std::map<std::string, double> scalars = {{t + "/loss", state.loss},
                                             {t + "/lr", state.lr},
                                             {t + "/images_per_s", state.images_per_s}};
    for (const auto& [name, value] : state.loss_terms) scalars[t + "/" + name] = value;
    const double wall =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    events_->addScalars(state.step, wall, scalars);
    events_->flush();
  }
  progress_.report(state, steps_per_s_);
}

void MetricsHook::afterTrain(TrainState&) {
  progress_.finish();
  if (events_) events_->flush();
}

}  // namespace agreid::trainer
