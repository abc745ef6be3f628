#include "trainer/util/atomic_file.h"

#include <fstream>
#include <sstream>

namespace agreid::trainer {

std::string readFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace agreid::trainer
