// How training progress is shown on the terminal (trainer/engine/metrics_hook.h).
#pragma once

namespace agreid::trainer {

enum class ProgressStyle {
  kAuto,  // bar on a terminal, lines otherwise
  kBar,   // one line redrawn in place
  kLines,
  kNone,
};

}  // namespace agreid::trainer
