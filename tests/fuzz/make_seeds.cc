// Writes the binary seed corpora of the file-reading fuzz targets with agreid's own writers:
// make_fuzz_seeds OUT creates OUT/dataset/tiny.h5, OUT/features/tiny.h5 and OUT/weights/tiny.pt,
// each as small as its format allows so that mutations stay fast.
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"

namespace {
namespace fs = std::filesystem;
using namespace agreid;

void writeDataset(const std::string& path) {
  data::WriterOptions options;
  options.name = "fuzz-seed";
  options.source = "make_fuzz_seeds";
  options.attribute_names = {"upper"};
  options.attribute_values = {{"red", "blue"}};
  // Note [Dataset seed size]: with the default 1 MiB blob chunk the file is 1 MB, and libFuzzer
  // mutates at most -max_len (64 KB) of it, so the target mostly sees truncated files. A 512-byte
  // chunk makes an 18 KB file that reaches the whole reader -- and libhdf5 1.10.8's own defects
  // on damaged files, which it still finds every few hundred to few thousand executions
  // (docs/testing.md). The CI's 15-second run keeps the 1 MB seed (a stable smoke test);
  // scripts/fuzz.sh, the long run, sets AGREID_FUZZ_SMALL_DATASET_SEED=1 for the 18 KB one.
  if (const char* small = std::getenv("AGREID_FUZZ_SMALL_DATASET_SEED"); small && *small == '1') {
    options.chunk_bytes = 512;
  }
  data::DatasetWriter writer(path, options);
  for (int i = 0; i < 3; ++i) {
    data::RgbImage image;
    image.height = 8;
    image.width = 4;
    image.pixels.assign(8 * 4 * 3, static_cast<uint8_t>(40 * i));
    data::SampleRecord r;
    r.jpeg = data::encodeJpeg(image, 50);
    r.pid = 1 + i % 2;
    r.camid = static_cast<int16_t>(i);
    r.split = static_cast<data::Split>(i);
    r.label = i == 0 ? 0 : -1;
    r.path = "p" + std::to_string(i) + ".jpg";
    r.attributes = {i % 2};
    r.caption = "a person in red";
    writer.add(r);
  }
  writer.finish();
}

void writeFeatures(const std::string& path) {
  trainer::FeatureSet set;
  set.features = torch::arange(12, torch::kFloat32).reshape({3, 4});
  set.pid = {1, 2, 1};
  set.camid = {0, 1, 2};
  set.index = {0, 1, 2};
  set.occluded = {0, 1, 0};
  set.info = {"tiny.h5", "0123", "query", "reid", "w.pt"};
  trainer::writeFeaturesFile(path, set);
}

void writeWeights(const std::string& path) {
  trainer::ClipArch arch;
  arch.embed_dim = 4;
  arch.vision_width = 8;
  arch.vision_layers = 1;
  arch.vision_heads = 2;
  arch.patch_size = 4;
  arch.grid_h = 2;
  arch.grid_w = 1;
  arch.context_length = 4;
  arch.vocab_size = 8;
  arch.text_width = 8;
  arch.text_layers = 1;
  arch.text_heads = 2;
  torch::manual_seed(0);
  trainer::saveClip(trainer::ClipModel(arch), path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds OUT\n";
    return 2;
  }
  const fs::path out = argv[1];
  try {
    for (const char* d : {"dataset", "features", "weights"}) fs::create_directories(out / d);
    writeDataset((out / "dataset" / "tiny.h5").string());
    writeFeatures((out / "features" / "tiny.h5").string());
    writeWeights((out / "weights" / "tiny.pt").string());
  } catch (const std::exception& e) {
    std::cerr << "make_fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
