// Progress: the one progress report of every long command (training stages, feature passes,
// import, synth), drawn through a Log (base/log.h) in the Log's progress style.
//
//   stage 2: 50/100 steps (50%), 2.00 steps/s, ETA 00:00:25, epoch 3/4 loss 0.5000 lr 0.0001
//
// kBar: that text redrawn in place at most every `redraw_s`; kLines: a plain line when the work
// crosses the next tenth or `line_every_s` passed since the last line. Either way the log file
// receives the plain lines (never a '\r'), and finish() writes one final line with the elapsed
// time and the mean rate. The rate (and so the ETA) is the mean since this Progress started,
// counting only the work done here (a resumed stage starts at `start`). Ranks other than 0
// report nothing.
//
// Not thread-safe: one thread calls update() (callers from worker threads serialise).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/log.h"

namespace agreid {

struct ProgressOptions {
  std::string label;           // what is running: "stage 2", "extract query"
  int64_t total = 0;           // units of work; 0: unknown (no percentage or ETA)
  std::string unit = "items";  // "steps", "images"
  int64_t start = 0;           // units already done before this Progress (a resumed stage)
  double line_every_s = 30.0;  // plain lines at least this often (besides every tenth)
  double redraw_s = 0.1;       // the bar is redrawn at most this often
};

class Progress {
 public:
  // Seconds on a monotonic clock (tests pass their own).
  using Clock = std::function<double()>;

  Progress(const Log& log, ProgressOptions options, Clock clock = {});
  // Clears a bar left on the console (a command that failed part-way).
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units are finished; `detail` is appended to the line (e.g. the loss).
  void update(int64_t done, const std::string& detail = "");
  // The final line: "<label>: done, 100 steps in 00:00:50 (2.00 steps/s)[, detail]". Once.
  void finish(const std::string& detail = "");

  // "50/100 steps (50%), 2.00 steps/s, ETA 00:00:25" after the label, for `done` at `rate`.
  std::string line(int64_t done, double rate, const std::string& detail) const;
  // "00:01:05" for 65 s; "--:--:--" when unknown (negative or not finite).
  static std::string formatDuration(double seconds);

 private:
  double rate(int64_t done, double now) const;

  Log log_;  // a copy shares the output
  ProgressOptions opts_;
  Clock clock_;
  ProgressStyle style_;
  double t0_ = 0;
  double last_line_ = 0;
  double last_draw_ = -1e300;
  int64_t last_tenth_ = -1;
  int64_t done_ = 0;
  bool finished_ = false;
};

// A (done, total) callback for work whose total is learnt at the first report (an import's file
// count, a rank's share of the queries): it reports through a Progress created then, and writes
// the final line when done reaches total. Copies share the Progress; not thread-safe.
std::function<void(int64_t done, int64_t total)> progressCallback(const Log& log, std::string label,
                                                                  std::string unit);

}  // namespace agreid
