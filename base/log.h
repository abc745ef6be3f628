// Log: rank-aware logging with a "[rank r/N]" prefix in jobs of several ranks (none in a
// single-process command). Info lines come from rank 0 only unless
// `all_ranks_info` is set; warnings and errors come from every rank. Instances are created once
// in launch/ and passed down explicitly -- there is no global logger.
//
// Thread-safe: each line is written with one call under a mutex.
#pragma once

#include <cstdio>
#include <mutex>
#include <sstream>
#include <string>

namespace agreid {

class Log {
 public:
  Log() = default;
  Log(int rank, int world_size, bool all_ranks_info = false)
      : rank_(rank), world_size_(world_size), all_ranks_info_(all_ranks_info) {}

  int rank() const { return rank_; }
  int worldSize() const { return world_size_; }

  template <typename... Parts>
  void info(const Parts&... parts) const {
    if (rank_ == 0 || all_ranks_info_) write(stdout, "", parts...);
  }
  template <typename... Parts>
  void warn(const Parts&... parts) const {
    write(stderr, "warning: ", parts...);
  }
  template <typename... Parts>
  void error(const Parts&... parts) const {
    write(stderr, "error: ", parts...);
  }

 private:
  template <typename... Parts>
  void write(FILE* stream, const char* level, const Parts&... parts) const {
    std::ostringstream os;
    if (world_size_ > 1) os << "[rank " << rank_ << "/" << world_size_ << "] ";
    os << level;
    (os << ... << parts);
    os << "\n";
    const std::string line = os.str();
    std::lock_guard<std::mutex> lock(mutex());
    std::fwrite(line.data(), 1, line.size(), stream);
    std::fflush(stream);
  }
  static std::mutex& mutex() {
    static std::mutex m;  // serialises lines from threads of this process only
    return m;
  }

  int rank_ = 0;
  int world_size_ = 1;
  bool all_ranks_info_ = false;
};

}  // namespace agreid
