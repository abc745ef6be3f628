// The TOML configuration loader: a config file (the bytes before the first NUL) plus `--set`
// overrides (one per line after it), loaded, validated and written back out.
#include <string>
#include <vector>

#include "launch/config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string file = input.substr(0, nul);
  agreid::launch::ConfigSources sources;
  sources.file = agreid::fuzz::writeInput(reinterpret_cast<const uint8_t*>(file.data()),
                                          file.size(), "config.toml");
  if (nul != std::string::npos) {
    size_t begin = nul + 1;
    while (begin <= input.size() && sources.sets.size() < 16) {
      size_t end = input.find('\n', begin);
      if (end == std::string::npos) end = input.size();
      sources.sets.push_back(input.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  return agreid::fuzz::refuseOnlyWithInputError([&] {
    const agreid::launch::Config config = agreid::launch::loadConfig(sources);
    (void)agreid::launch::configToToml(config);
  });
}
