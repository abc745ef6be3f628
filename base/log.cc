#include "base/log.h"

#include <ctime>
#include <filesystem>
#include <mutex>
#include <vector>

#include "base/error.h"

namespace agreid {

// What copies of a Log share (see log.h).
class LogOutput {
 public:
  LogOutput(LogStreams streams, ProgressStyle progress, bool keep_lines)
      : streams_(streams), progress_(progress), keep_lines_(keep_lines) {}
  ~LogOutput() {
    if (file_ != nullptr) std::fclose(file_);
  }

  ProgressStyle progress() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return progress_;
  }
  void setProgress(ProgressStyle style) {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_ = style;
  }

  void openFile(const std::string& path, const std::string& header) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) throw InputError(path + ": cannot open the log file for appending");
    if (!header.empty()) toFile(header + "\n");
    for (const auto& line : kept_) toFile(line);
    kept_.clear();
    keep_lines_ = false;
  }

  // `line` ends with '\n'. Console lines go to `stream`; the bar, if shown, is redrawn after.
  void line(std::FILE* stream, const std::string& text, bool console) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (console) {
      if (!status_.empty()) put(streams_.out, "\r\x1b[K");
      put(stream, text);
      if (!status_.empty()) put(streams_.out, "\r" + status_ + "\x1b[K");
    }
    if (file_ != nullptr) {
      toFile(text);
    } else if (keep_lines_ && kept_.size() < kMaxKeptLines) {
      kept_.push_back(text);
    }
  }

  void status(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = text.empty() ? " " : text;
    put(streams_.out, "\r" + status_ + "\x1b[K");
  }

  void clearStatus() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_.empty()) return;
    put(streams_.out, "\r\x1b[K");
    status_.clear();
  }

  const LogStreams& streams() const { return streams_; }

 private:
  // Lines kept for a log file that is not open yet; a command that never opens one keeps at
  // most this many.
  static constexpr size_t kMaxKeptLines = 4096;

  static void put(std::FILE* stream, const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stream);
    std::fflush(stream);
  }
  void toFile(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), file_);
    std::fflush(file_);
  }

  mutable std::mutex mutex_;
  LogStreams streams_;
  ProgressStyle progress_;
  bool keep_lines_;
  std::vector<std::string> kept_;
  std::FILE* file_ = nullptr;
  std::string status_;  // the bar currently shown ("" when none)
};

Log::Log() : Log(0, 1) {}

Log::Log(int rank, int world_size, ProgressStyle progress, LogStreams streams)
    : rank_(rank),
      world_size_(world_size),
      output_(std::make_shared<LogOutput>(streams, progress, rank == 0)) {}

ProgressStyle Log::progressStyle() const {
  return rank_ == 0 ? output_->progress() : ProgressStyle::kNone;
}

void Log::setProgressStyle(ProgressStyle style) { output_->setProgress(style); }

void Log::openFile(const std::string& path, const std::string& header) {
  if (rank_ == 0) output_->openFile(path, header);
}

void Log::status(const std::string& text) const {
  if (progressStyle() == ProgressStyle::kBar) output_->status(text);
}

void Log::clearStatus() const {
  if (rank_ == 0) output_->clearStatus();
}

void Log::fileOnly(const std::string& text) const {
  if (rank_ == 0) write(Level::kFileOnly, text);
}

std::string Log::timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  return buf;
}

void Log::write(Level level, const std::string& message) const {
  std::string line = timestamp() + " ";
  if (world_size_ > 1) {
    line += "[rank " + std::to_string(rank_) + "/" + std::to_string(world_size_) + "] ";
  }
  if (level == Level::kWarning) line += "warning: ";
  if (level == Level::kError) line += "error: ";
  line += message;
  if (line.back() != '\n') line += '\n';  // a message may end with its own (a table)
  const LogStreams& s = output_->streams();
  std::FILE* stream = level == Level::kInfo ? s.out : s.err;
  output_->line(stream, line, level != Level::kFileOnly);
}

}  // namespace agreid
