// Console: the two streams of a Log (stdout, stderr) as temporary files, read back as text.
#pragma once

#include <cstdio>
#include <string>

#include "base/log.h"

namespace agreid::testing {

class Console {
 public:
  Console() : out_(std::tmpfile()), err_(std::tmpfile()) {}
  ~Console() {
    std::fclose(out_);
    std::fclose(err_);
  }
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  LogStreams streams() const { return {out_, err_}; }
  std::string out() const { return read(out_); }
  std::string err() const { return read(err_); }

 private:
  static std::string read(std::FILE* f) {
    std::fflush(f);
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) s.append(buf, n);
    return s;
  }
  std::FILE* out_;
  std::FILE* err_;
};

}  // namespace agreid::testing
