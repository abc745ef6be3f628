// CommError: a collective failed or did not finish within its timeout (tier c of docs/errors.md).
// The top level catches it, logs it with the rank, and aborts every rank.
#pragma once

#include <stdexcept>
#include <string>

namespace agreid::comm {

class CommError : public std::runtime_error {
 public:
  explicit CommError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace agreid::comm
