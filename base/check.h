// AGREID_CHECK(cond, parts...): throws agreid::InternalError naming the condition, the file and
// the line, followed by the streamed message parts. For invariants only; user-facing failures
// throw agreid::InputError with a message that names the file, key or sample.
#pragma once

#include <sstream>
#include <string>

#include "base/error.h"

namespace agreid::detail {

template <typename... Parts>
[[noreturn]] void failCheck(const char* expr, const char* file, int line, const Parts&... parts) {
  std::ostringstream os;
  os << "check failed: " << expr << " at " << file << ":" << line;
  if constexpr (sizeof...(Parts) > 0) {
    os << ": ";
    (os << ... << parts);
  }
  throw InternalError(os.str());
}

// Joins streamable parts into one string, for error messages.
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace agreid::detail

#define AGREID_CHECK(cond, ...)                                                         \
  do {                                                                                  \
    if (!(cond)) ::agreid::detail::failCheck(#cond, __FILE__, __LINE__, ##__VA_ARGS__); \
  } while (0)
