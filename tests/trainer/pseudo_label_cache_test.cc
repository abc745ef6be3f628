#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/error.h"
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
  c.image_features = torch::randn({20, 4});
  c.image_labels = torch::arange(20) % 5;
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
  EXPECT_EQ(sha1Hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  TempDir dir;
  agreid::testing::writeFile(dir.file("f"), "abc");
  EXPECT_EQ(sha1File(dir.file("f")), sha1Hex("abc"));
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
  EXPECT_TRUE(torch::equal(back->image_labels, ref.image_labels));
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

}  // namespace
}  // namespace agreid::trainer
