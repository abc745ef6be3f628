#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <hdf5.h>

#include <cmath>

#include "base/error.h"
#include "data/dataset.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"
#include "trainer/stages/pseudo_label_cache.h"

namespace agreid::trainer {
namespace {

using agreid::testing::TempDir;

PseudoLabelCache sampleCache(const std::string& key) {
  torch::manual_seed(3);
  PseudoLabelCache c;
  c.key = key;
  c.settings = "epochs = 2\nlr = 0.00035";
  c.tokens = torch::randn({5, 3, 8});
  c.text_features = torch::randn({5, 4});
  c.identity_centres = identityCentres(torch::randn({5, 4}));
  c.encoder = {{"proj.weight", torch::randn({2, 4})}, {"queries", torch::randn({3, 2})}};
  c.readout_names = {"upper_color", "lower_color"};
  c.readout = torch::randint(0, 3, {5, 2});
  c.readout_truth = torch::randint(0, 3, {5, 2});
  return c;
}

TEST(PseudoLabelCache, KeyDependsOnEveryInput) {
  const std::string k = cacheKey("w", "d", "t", "s");
  EXPECT_EQ(k, cacheKey("w", "d", "t", "s"));
  EXPECT_NE(k, cacheKey("w2", "d", "t", "s"));
  EXPECT_NE(k, cacheKey("w", "d2", "t", "s"));
  EXPECT_NE(k, cacheKey("w", "d", "t2", "s"));
  EXPECT_NE(k, cacheKey("w", "d", "t", "s2"));
}

TEST(PseudoLabelCache, Sha1KnownAnswer) {
  // FIPS 180-2's test vector.
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir dir;
  agreid::testing::writeFile(dir.file("f"), "abc");
  EXPECT_EQ(sha256File(dir.file("f")), sha256Hex("abc"));
}

TEST(PseudoLabelCache, RoundTrip) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k1");
  writeCache(path, sampleCache("k1"));
  EXPECT_TRUE(isCacheFile(path));
  Log log;
  auto back = readCache(path, "k1", log);
  ASSERT_TRUE(back.has_value());
  auto ref = sampleCache("k1");
  EXPECT_TRUE(torch::equal(back->tokens, ref.tokens));
  EXPECT_TRUE(torch::equal(back->identity_centres, ref.identity_centres));
  ASSERT_EQ(back->encoder.size(), 2u);
  EXPECT_EQ(back->encoder[0].first, "proj.weight");
  EXPECT_TRUE(torch::equal(back->encoder[1].second, ref.encoder[1].second));
  EXPECT_EQ(back->readout_names, ref.readout_names);
  EXPECT_TRUE(torch::equal(back->readout, ref.readout));
  EXPECT_NE(describeCache(path).find("identity tokens V: [5, 3, 8]"), std::string::npos);
  // No temporary files left behind.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(PseudoLabelCache, OtherKeyOrTruncatedIsNotUsed) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k1");
  writeCache(path, sampleCache("k1"));
  Log log;
  EXPECT_FALSE(readCache(path, "k2", log).has_value());
  // Truncate the file: it must be rejected (recomputed), never silently used.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  EXPECT_FALSE(readCache(path, "k1", log).has_value());
  EXPECT_FALSE(readCache(dir.file("absent.h5"), "k1", log).has_value());
}

TEST(PseudoLabelCache, LockSerialisesWriters) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k");
  std::atomic<int> inside{0}, max_inside{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      CacheLock lock(path);
      int now = ++inside;
      max_inside = std::max(max_inside.load(), now);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --inside;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside.load(), 1);
}

// Replaces the array `name` of an HDF5 file by `t` (float32 or int64), as a damaged or hand-edited
// cache would hold it.
// Replaces (or adds) the tensor `name`; an undefined `tensor` removes it.
void replaceTensor(const std::string& path, const std::string& name, const at::Tensor& tensor) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0) << path;
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) {
    ASSERT_GE(H5Ldelete(file, name.c_str(), H5P_DEFAULT), 0) << name;
  }
  if (!tensor.defined()) {
    H5Fclose(file);
    return;
  }
  const at::Tensor t = tensor.contiguous();
  const hid_t type = t.scalar_type() == at::kLong ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT;
  const std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t set =
      H5Dcreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), 0);
  H5Dclose(set);
  H5Sclose(space);
  H5Fclose(file);
}

TEST(PseudoLabelCache, NonFiniteOrMisshapenContentIsAnErrorNamingTheTensor) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k1");
  Log log;
  auto expectRejected = [&](const std::string& name, const at::Tensor& t,
                            const std::vector<std::string>& parts) {
    writeCache(path, sampleCache("k1"));
    replaceTensor(path, name, t);
    agreid::testing::expectOneLineInputError([&] { readCache(path, "k1", log); }, parts);
  };
  const PseudoLabelCache ok = sampleCache("k1");
  at::Tensor nan = ok.tokens.clone();
  nan[1][2][3] = NAN;
  expectRejected("tokens", nan, {path, "tensor 'tokens' holds non-finite values"});
  at::Tensor inf = ok.identity_centres.clone();
  inf[4][0] = INFINITY;
  expectRejected("identity_centres", inf,
                 {path, "tensor 'identity_centres' holds non-finite values"});
  expectRejected("encoder/queries", torch::full({3, 2}, NAN),
                 {"tensor 'encoder/queries' holds non-finite values"});
  expectRejected("tokens", torch::randn({5, 24}),
                 {path, "tensor 'tokens'", "expected floating point with 3 dimensions"});
  expectRejected("text_features", torch::randn({4, 4}),
                 {path, "tensor 'text_features' has 4 in dimension 0, expected 5"});
  expectRejected("identity_centres", torch::randn({5, 6}),
                 {"tensor 'identity_centres' has 6 in dimension 1, expected 4"});
  expectRejected("identity_centres", torch::randn({4, 4}),
                 {"tensor 'identity_centres' has 4 in dimension 0, expected 5"});
  expectRejected("identity_centres", torch::zeros({5, 4}, torch::kLong),
                 {"tensor 'identity_centres'", "expected floating point"});
  // The intact cache still reads.
  writeCache(path, sampleCache("k1"));
  EXPECT_TRUE(readCache(path, "k1", log).has_value());
}

// A version-1 cache holds every image's feature and label instead of the identity centres: it
// still reads, with the centres derived from them; out-of-range labels make it unusable.
TEST(PseudoLabelCache, Version1FilesStillRead) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k1");
  Log log;
  const at::Tensor features = torch::randn({20, 4});
  const at::Tensor labels = torch::arange(20) % 5;
  writeCache(path, sampleCache("k1"));
  replaceTensor(path, "identity_centres", at::Tensor());
  replaceTensor(path, "image_features", features);
  replaceTensor(path, "image_labels", labels);
  const auto back = readCache(path, "k1", log);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(torch::allclose(back->identity_centres,
                              identityCentres(identityFeatureSums(features, labels, 5))));
  EXPECT_NE(describeCache(path).find("cached image features: [20, 4]"), std::string::npos);
  replaceTensor(path, "image_labels", torch::arange(20));
  EXPECT_FALSE(readCache(path, "k1", log).has_value());
}

// The centres of a sharded dataset are the sums of the shards' sums, scaled to unit length.
TEST(PseudoLabelCache, IdentityCentresAddUpOverShards) {
  const at::Tensor features = torch::randn({30, 8});
  const at::Tensor labels = torch::randint(0, 4, {30}, torch::kLong);
  const at::Tensor whole = identityCentres(identityFeatureSums(features, labels, 5));
  const at::Tensor shards =
      identityCentres(identityFeatureSums(features.slice(0, 0, 11), labels.slice(0, 0, 11), 5) +
                      identityFeatureSums(features.slice(0, 11), labels.slice(0, 11), 5));
  EXPECT_TRUE(torch::allclose(whole, shards, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(whole.slice(0, 0, 4).norm(2, 1), torch::ones({4})));
  EXPECT_TRUE(torch::equal(whole[4], torch::zeros({8})));  // identity 4 has no image
}

TEST(PseudoLabelCache, NonFiniteResultsAreNeverCached) {
  TempDir dir;
  const std::string path = cachePath(dir.path().string(), "k1");
  PseudoLabelCache c = sampleCache("k1");
  c.text_features[0][0] = NAN;
  agreid::testing::expectOneLineInputError([&] { writeCache(path, c); },
                                           {path, "'text_features'", "stage 1 diverged"});
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(PseudoLabelCache, FullDiskIsAnInputErrorAndLeavesNothing) {
  agreid::testing::SmallDisk disk(64);
  AGREID_REQUIRE_SMALL_DISK(disk);
  PseudoLabelCache c = sampleCache("k1");
  c.encoder.emplace_back("large", torch::randn({20000, 4}));
  const std::string path = cachePath(disk.dir(), "k1");
  agreid::testing::expectOneLineInputError([&] { writeCache(path, c); },
                                           {path, "No space left on device"});
  EXPECT_TRUE(std::filesystem::is_empty(disk.dir()));
}

// A dataset file of three samples.
void writeDataset(const std::string& path) {
  data::DatasetWriter writer(path, data::WriterOptions{});
  for (int i = 0; i < 3; ++i) {
    data::SampleRecord r;
    r.jpeg = agreid::testing::tinyJpeg(8, 8, static_cast<uint8_t>(i));
    r.pid = i;
    r.label = i;
    r.path = std::to_string(i) + ".jpg";
    writer.add(r);
  }
  writer.finish();
}

TEST(PseudoLabelCache, KeyRestsOnVerifiedDatasetContent) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  writeDataset(path);
  const std::string stored = data::DatasetReader(path).info().checksum;
  EXPECT_EQ(verifiedDatasetChecksum(data::DatasetReader(path)), stored);
  // Alter one person id in place, as an edit after the import would: the stored checksum stays.
  {
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t pid = H5Dopen2(file, "/samples/pid", H5P_DEFAULT);
    const int32_t altered[3] = {0, 7, 2};
    ASSERT_GE(H5Dwrite(pid, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, altered), 0);
    H5Dclose(pid);
    H5Fclose(file);
  }
  const data::DatasetReader altered(path);
  EXPECT_EQ(altered.info().checksum, stored);
  agreid::testing::expectOneLineInputError(
      [&] { verifiedDatasetChecksum(altered); },
      {path, "differs from the stored " + stored, "altered after it was written"});
}

}  // namespace
}  // namespace agreid::trainer
