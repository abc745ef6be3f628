// Log: rank-aware, time-stamped log lines, the console's progress bar, and the run folder's log
// file. Instances are created once in launch/ and passed down explicitly -- there is no global
// logger.
//
// Lines. Each line starts with the local time ("2026-11-30 20:05:01 "), then "[rank r/N] " in
// jobs of several ranks (none in a single-process command), then the level ("warning: ",
// "error: ", nothing for info). A message of several lines (a results table) is written as one
// block: only its first line carries the prefix. Info lines come from rank 0 only; warnings and
// errors from every rank (on stderr).
//
// Shared output. Copies of a Log share one LogOutput (console streams, progress style, log file):
// configuring it through one copy (setProgressStyle, openFile) configures every copy -- that is
// how launch/ sets up the Log it has already handed to a stage. This output is the process's
// one log sink; it is explicit (owned by the Log values), not a global.
//
// Progress (base/progress.h draws through these calls): progressStyle() says how -- kBar: a
// status line redrawn in place with '\r' (status()), log lines written meanwhile appear above
// it; kLines: plain lines; kNone: nothing. Ranks other than 0 always see kNone.
//
// Log file (openFile, rank 0): receives every line this process's log writes -- info, warnings,
// errors, and the plain progress lines (fileOnly) even while the console shows a bar -- including
// the lines written before the file was opened (kept in memory until then). Never a '\r'.
//
// Thread-safe: each line is written with one call under the output's mutex.
#pragma once

#include <cstdio>
#include <memory>
#include <sstream>
#include <string>

namespace agreid {

enum class ProgressStyle {
  kBar,    // one status line redrawn in place (a terminal a person watches)
  kLines,  // plain periodic lines (files, job logs)
  kNone,   // no progress output
};

// The console a Log writes to (tests pass files).
struct LogStreams {
  std::FILE* out = stdout;  // info lines and the progress bar
  std::FILE* err = stderr;  // warnings and errors
};

class LogOutput;

class Log {
 public:
  // Rank 0 of 1, stdout/stderr, progress as plain lines.
  Log();
  Log(int rank, int world_size, ProgressStyle progress = ProgressStyle::kLines,
      LogStreams streams = {});

  int rank() const { return rank_; }
  int worldSize() const { return world_size_; }

  // How progress is shown on this rank: the configured style on rank 0, kNone elsewhere.
  ProgressStyle progressStyle() const;
  // Sets the style for every copy of this Log.
  void setProgressStyle(ProgressStyle style);
  // Rank 0: from now on appends every line to `path` (created with its folder when missing),
  // starting with `header` (when not empty) and the lines written so far. Other ranks: nothing.
  // Throws InputError when the file cannot be opened. Affects every copy of this Log.
  void openFile(const std::string& path, const std::string& header = "");

  template <typename... Parts>
  void info(const Parts&... parts) const {
    if (rank_ == 0) write(Level::kInfo, concat(parts...));
  }
  template <typename... Parts>
  void warn(const Parts&... parts) const {
    write(Level::kWarning, concat(parts...));
  }
  template <typename... Parts>
  void error(const Parts&... parts) const {
    write(Level::kError, concat(parts...));
  }

  // The progress bar (rank 0, kBar style; no effect otherwise): shows `text` in place of the
  // previous status on the console; never written to the log file.
  void status(const std::string& text) const;
  // Removes the status line from the console (before a final line).
  void clearStatus() const;
  // A time-stamped line for the log file only (rank 0): the plain progress lines while the
  // console shows a bar.
  void fileOnly(const std::string& text) const;

  // "2026-11-30 20:05:01" (local time).
  static std::string timestamp();

 private:
  enum class Level { kInfo, kWarning, kError, kFileOnly };

  template <typename... Parts>
  static std::string concat(const Parts&... parts) {
    std::ostringstream os;
    (os << ... << parts);
    return os.str();
  }
  void write(Level level, const std::string& message) const;

  int rank_ = 0;
  int world_size_ = 1;
  std::shared_ptr<LogOutput> output_;
};

}  // namespace agreid
