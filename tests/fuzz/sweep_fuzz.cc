// Sweep specifications: parsed, checked against the configuration schema, expanded and described.
#include "launch/sweep_spec.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = agreid::fuzz::writeInput(data, size, "sweep.toml");
  return agreid::fuzz::refuseOnlyWithInputError([&] {
    const agreid::launch::SweepSpec spec =
        agreid::launch::loadSweepSpec(path, agreid::fuzz::scratchDir() + "/sweep");
    const auto points = agreid::launch::expandSweep(spec);
    (void)agreid::launch::describeSweep(spec, points);
  });
}
