// CLIP weight loading (the loader every stage and `inspect` use) on arbitrary files.
#include "tests/fuzz/fuzz_support.h"
#include "trainer/model/clip_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = agreid::fuzz::writeInput(data, size, "weights.pt");
  return agreid::fuzz::refuseOnlyWithInputError([&] { (void)agreid::trainer::loadClip(path); });
}
