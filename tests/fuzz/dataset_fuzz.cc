// The HDF5 dataset reader on arbitrary files: open (metadata validation), then every image
// decoded, attributes and captions read, as the loader and `inspect --verify` would.
#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/hdf5_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = agreid::fuzz::writeInput(data, size, "dataset.h5");
  const int status = agreid::fuzz::refuseOnlyWithInputError([&] {
    const agreid::data::DatasetReader reader(path);
    for (int64_t i = 0; i < reader.size() && i < 64; ++i) {
      const std::vector<uint8_t> jpeg = reader.readJpeg(i);
      (void)agreid::data::decodeJpeg(jpeg.data(), jpeg.size(), reader.sampleContext(i));
      (void)reader.caption(i);
    }
    (void)reader.attributes();
    (void)reader.recomputeChecksum();
  });
  agreid::fuzz::requireNoOpenHdf5Objects();
  return status;
}
