#include "base/progress.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

namespace agreid {
namespace {

double steadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string fixed2(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

}  // namespace

Progress::Progress(const Log& log, ProgressOptions options, Clock clock)
    : log_(log),
      opts_(std::move(options)),
      clock_(clock ? std::move(clock) : Clock(&steadySeconds)),
      style_(log.progressStyle()),
      done_(opts_.start) {
  t0_ = clock_();
  last_line_ = t0_;
  if (opts_.total > 0) last_tenth_ = 10 * opts_.start / opts_.total;
}

Progress::~Progress() {
  if (!finished_ && style_ == ProgressStyle::kBar) log_.clearStatus();
}

std::string Progress::formatDuration(double seconds) {
  if (!(seconds >= 0.0) || seconds > 1e8) return "--:--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

double Progress::rate(int64_t done, double now) const {
  const double seconds = now - t0_;
  return seconds > 0 && done > opts_.start ? static_cast<double>(done - opts_.start) / seconds
                                           : 0.0;
}

std::string Progress::line(int64_t done, double rate, const std::string& detail) const {
  std::string s = opts_.label + ": " + std::to_string(done);
  if (opts_.total > 0) {
    s += "/" + std::to_string(opts_.total) + " " + opts_.unit + " (" +
         std::to_string(100 * done / opts_.total) + "%)";
  } else {
    s += " " + opts_.unit;
  }
  s += ", " + fixed2(rate) + " " + opts_.unit + "/s";
  if (opts_.total > 0) {
    const double eta = rate > 0 ? static_cast<double>(opts_.total - done) / rate : -1.0;
    s += ", ETA " + formatDuration(eta);
  }
  if (!detail.empty()) s += ", " + detail;
  return s;
}

void Progress::update(int64_t done, const std::string& detail) {
  done_ = done;
  if (style_ == ProgressStyle::kNone || finished_) return;
  const double now = clock_();
  const int64_t tenth = opts_.total > 0 ? 10 * done / opts_.total : last_tenth_;
  const bool line_due = tenth > last_tenth_ || now - last_line_ >= opts_.line_every_s;
  const bool draw_due = style_ == ProgressStyle::kBar && now - last_draw_ >= opts_.redraw_s;
  if (!line_due && !draw_due) return;
  const std::string text = line(done, rate(done, now), detail);
  if (line_due) {
    last_tenth_ = tenth;
    last_line_ = now;
    if (style_ == ProgressStyle::kLines) log_.info(text);
    if (style_ == ProgressStyle::kBar) log_.fileOnly(text);
  }
  if (draw_due) {
    last_draw_ = now;
    log_.status(text);
  }
}

void Progress::finish(const std::string& detail) {
  if (finished_) return;
  finished_ = true;
  if (style_ == ProgressStyle::kNone) return;
  if (style_ == ProgressStyle::kBar) log_.clearStatus();
  const double now = clock_();
  std::string s = opts_.label + ": done, " + std::to_string(done_ - opts_.start) + " " +
                  opts_.unit + " in " + formatDuration(now - t0_) + " (" +
                  fixed2(rate(done_, now)) + " " + opts_.unit + "/s)";
  if (!detail.empty()) s += ", " + detail;
  log_.info(s);
}

std::function<void(int64_t, int64_t)> progressCallback(const Log& log, std::string label,
                                                       std::string unit) {
  auto progress = std::make_shared<std::unique_ptr<Progress>>();
  return [log, label = std::move(label), unit = std::move(unit), progress](int64_t done,
                                                                           int64_t total) {
    if (!*progress) {
      ProgressOptions po;
      po.label = label;
      po.total = total;
      po.unit = unit;
      *progress = std::make_unique<Progress>(log, po);
    }
    (*progress)->update(done);
    if (done >= total) (*progress)->finish();
  };
}

}  // namespace agreid
