// The features-file reader of `agreid eval` on arbitrary files.
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/hdf5_fuzz_support.h"
#include "trainer/eval/features_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = agreid::fuzz::writeInput(data, size, "features.h5");
  const int status = agreid::fuzz::refuseOnlyWithInputError([&] {
    const agreid::trainer::FeatureSet set = agreid::trainer::readFeaturesFile(path);
    agreid::trainer::checkFeatureSet(set);
  });
  agreid::fuzz::requireNoOpenHdf5Objects();
  return status;
}
