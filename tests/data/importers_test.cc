// Importers on small fake trees that follow each public layout's real naming conventions,
// including junk (-1), distractors (0), stray non-image files, malformed names and corrupt images.
#include "data/importers.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/error.h"
#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

using testing::expectOneLineInputError;
using testing::TempDir;
using testing::writeJpegFile;

// Index of a sample by stored path, or -1.
int64_t find(const DatasetReader& r, const std::string& path) {
  const auto& p = r.samples().path;
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] == path) return static_cast<int64_t>(i);
  return -1;
}

struct Expect {
  int32_t pid;
  int16_t camid;
  Split split;
  int32_t label;
  bool occluded;
};

void expectSample(const DatasetReader& r, const std::string& path, Expect e) {
  const int64_t i = find(r, path);
  ASSERT_GE(i, 0) << path << " not imported";
  const SampleTable& t = r.samples();
  EXPECT_EQ(t.pid[i], e.pid) << path;
  EXPECT_EQ(t.camid[i], e.camid) << path;
  EXPECT_EQ(t.split[i], static_cast<uint8_t>(e.split)) << path;
  EXPECT_EQ(t.label[i], e.label) << path;
  EXPECT_EQ(t.occluded[i] != 0, e.occluded) << path;
}

// Market-1501-style tree (also Duke / Occluded-Duke names).
void makeMarketTree(const std::string& root) {
  const std::string tr = root + "/bounding_box_train/", q = root + "/query/",
                    g = root + "/bounding_box_test/";
  writeJpegFile(tr + "0002_c1s1_000451_03.jpg", 1);
  writeJpegFile(tr + "0002_c2s1_000001_01.jpg", 2);
  writeJpegFile(tr + "0005_c6s2_000100_02.jpg", 3);
  writeJpegFile(tr + "0007_c3s1_000200_01.jpg", 4);
  testing::writeFile(tr + "Thumbs.db", "thumbnail cache");
  testing::writeFile(tr + "readme.txt", "notes");
  std::filesystem::create_directories(tr + "extra");
  writeJpegFile(q + "0002_c4s1_000300_00.jpg", 5);
  writeJpegFile(q + "0007_c5s1_000400_00.jpg", 6);
  writeJpegFile(g + "0000_c1s1_000010_01.jpg", 7);  // distractor, kept
  writeJpegFile(g + "-1_c2s1_000020_01.jpg", 8);    // junk, dropped
  writeJpegFile(g + "-1_c3s1_000030_02.jpg", 9);    // junk, dropped
  writeJpegFile(g + "0002_c1s2_000040_01.jpg", 10);
  writeJpegFile(g + "0007_c2s1_000050_01.jpg", 11);
  writeJpegFile(g + "badname.jpg", 12);                                    // malformed name
  testing::writeFile(g + "0003_c1s1_000060_01.jpg", "not really a jpeg");  // not an image
  std::vector<uint8_t> cut = testing::tinyJpeg(16, 8, 13);
  cut.resize(20);  // a JPEG cut inside its header
  testing::writeBytes(g + "0004_c1s1_000070_01.jpg", cut);
}

TEST(ImportersTest, Market1501ParsesNamesRelabelsAndCounts) {
  TempDir dir;
  const std::string root = dir.file("Market-1501-v15.09.15");
  makeMarketTree(root);
  std::vector<std::pair<int64_t, int64_t>> calls;
  const ImportSummary s = importDataset({"market1501", root, dir.file("m.h5")},
                                        [&](int64_t d, int64_t t) { calls.emplace_back(d, t); });
  // 4 + 2 + 5 .jpg images with a valid name (junk excluded), two of them unusable.
  ASSERT_EQ(calls.size(), 11u);
  EXPECT_EQ(calls.back(), std::make_pair(int64_t{11}, int64_t{11}));
  EXPECT_EQ(s.splits[0].images, 4);
  EXPECT_EQ(s.splits[0].identities, 3);
  EXPECT_EQ(s.splits[0].cameras, 4);
  EXPECT_EQ(s.splits[1].images, 2);
  EXPECT_EQ(s.splits[2].images, 3);
  EXPECT_EQ(s.splits[2].identities, 2);  // 2 and 7; pid 0 is a distractor, not an identity
  EXPECT_EQ(s.splits[2].distractors, 1);
  EXPECT_EQ(s.junk_dropped, 2);
  EXPECT_EQ(s.skipped.at("not a .jpg file"), 3);  // Thumbs.db, readme.txt, extra/
  EXPECT_EQ(s.skipped.at("name does not match ([-\\d]+)_c(\\d)"), 1);
  EXPECT_EQ(s.skipped.at("not a JPEG, TIFF or PNG image"), 1);
  EXPECT_EQ(s.skipped.at("not a valid JPEG"), 1);
  ASSERT_FALSE(s.warnings.empty());
  EXPECT_NE(s.warnings[0].find("published split has train 751 / 12936"), std::string::npos);
  const std::string text = formatImportSummary(s);
  EXPECT_NE(text.find("junk (pid -1) dropped: 2"), std::string::npos) << text;
  EXPECT_NE(text.find("bounding_box_test/0003_c1s1_000060_01.jpg"), std::string::npos) << text;

  DatasetReader r(dir.file("m.h5"));
  EXPECT_EQ(r.size(), 9);
  EXPECT_EQ(r.info().name, "market1501");
  EXPECT_EQ(r.info().checksum, s.checksum);
  // Camera c1 -> 0; labels contiguous in sorted pid order (2 -> 0, 5 -> 1, 7 -> 2).
  expectSample(r, "bounding_box_train/0002_c1s1_000451_03.jpg", {2, 0, Split::kTrain, 0, false});
  expectSample(r, "bounding_box_train/0002_c2s1_000001_01.jpg", {2, 1, Split::kTrain, 0, false});
  expectSample(r, "bounding_box_train/0005_c6s2_000100_02.jpg", {5, 5, Split::kTrain, 1, false});
  expectSample(r, "bounding_box_train/0007_c3s1_000200_01.jpg", {7, 2, Split::kTrain, 2, false});
  expectSample(r, "query/0002_c4s1_000300_00.jpg", {2, 3, Split::kQuery, -1, false});
  expectSample(r, "bounding_box_test/0000_c1s1_000010_01.jpg", {0, 0, Split::kGallery, -1, false});
  EXPECT_EQ(find(r, "bounding_box_test/-1_c2s1_000020_01.jpg"), -1);
  // Images are stored byte for byte.
  const int64_t i = find(r, "query/0007_c5s1_000400_00.jpg");
  EXPECT_EQ(r.readJpeg(i), testing::tinyJpeg(16, 8, 6));
  // Importing again gives the same checksum (deterministic order).
  EXPECT_EQ(importDataset({"market1501", root, dir.file("m2.h5")}).checksum, s.checksum);
}

TEST(ImportersTest, MarketCameraOutsideRangeIsAnError) {
  TempDir dir;
  const std::string root = dir.file("m");
  makeMarketTree(root);
  writeJpegFile(root + "/query/0009_c7s1_000001_00.jpg");
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", root, dir.file("o.h5")});
      },
      {"query/0009_c7s1_000001_00.jpg", "camera 7 outside 1..6"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.h5")));
  EXPECT_TRUE(testing::tempLeftovers(dir.path().string()).empty());
  // Duke has 8 cameras: c7 is fine there, c9 is not.
  const ImportSummary s = importDataset({"dukemtmc", root, dir.file("d.h5")});
  EXPECT_EQ(s.splits[1].images, 3);
  writeJpegFile(root + "/query/0009_c9s1_000001_00.jpg");
  expectOneLineInputError(
      [&] {
        importDataset({"dukemtmc", root, dir.file("d2.h5")});
      },
      {"camera 9 outside 1..8"});
}

TEST(ImportersTest, OccludedDukeMarksQueriesOccluded) {
  TempDir dir;
  const std::string root = dir.file("Occluded_Duke");
  writeJpegFile(root + "/bounding_box_train/0001_c2_f0046182.jpg");
  writeJpegFile(root + "/bounding_box_train/0003_c8_f0000001.jpg");
  writeJpegFile(root + "/query/0005_c7_f0000002.jpg");
  writeJpegFile(root + "/bounding_box_test/0005_c1_f0000003.jpg");
  writeJpegFile(root + "/bounding_box_test/2000_c5_f0000004.jpg");
  const ImportSummary s = importDataset({"occluded-duke", root, dir.file("od.h5")});
  EXPECT_EQ(s.splits[1].occluded, 1);
  DatasetReader r(dir.file("od.h5"));
  expectSample(r, "bounding_box_train/0003_c8_f0000001.jpg", {3, 7, Split::kTrain, 1, false});
  expectSample(r, "query/0005_c7_f0000002.jpg", {5, 6, Split::kQuery, -1, true});
  expectSample(r, "bounding_box_test/2000_c5_f0000004.jpg", {2000, 4, Split::kGallery, -1, false});
}

TEST(ImportersTest, Msmt17ReadsListFilesAndCameraField) {
  TempDir dir;
  const std::string root = dir.file("MSMT17_V1");
  std::filesystem::create_directories(root);
  // Training list deliberately not in pid order: labels still follow sorted pids.
  testing::writeFile(root + "/list_train.txt",
                     "0005/0005_000_15_0303afternoon_0001_0.jpg 5\n"
                     "0002/0002_000_01_0303morning_0015_0.jpg 2\n\n");
  testing::writeFile(root + "/list_val.txt", "0002/0002_001_03_0303morning_0020_1.jpg 2\r\n");
  testing::writeFile(root + "/list_query.txt", "0000/0000_000_02_0303noon_0001_0.jpg 0\n");
  testing::writeFile(root + "/list_gallery.txt",
                     "0000/0000_003_04_0303noon_0002_0.jpg 0\n"
                     "0001/0001_000_12_0303noon_0003_0.jpg 1\n");
  writeJpegFile(root + "/train/0005/0005_000_15_0303afternoon_0001_0.jpg");
  writeJpegFile(root + "/train/0002/0002_000_01_0303morning_0015_0.jpg");
  writeJpegFile(root + "/train/0002/0002_001_03_0303morning_0020_1.jpg");
  writeJpegFile(root + "/train/0002/unlisted_file.jpg");  // not in a list: not imported
  writeJpegFile(root + "/test/0000/0000_000_02_0303noon_0001_0.jpg");
  writeJpegFile(root + "/test/0000/0000_003_04_0303noon_0002_0.jpg");
  writeJpegFile(root + "/test/0001/0001_000_12_0303noon_0003_0.jpg");
  const ImportSummary s = importDataset({"msmt17", root, dir.file("msmt.h5")});
  EXPECT_EQ(s.splits[0].images, 3);  // train + val
  EXPECT_EQ(s.splits[0].identities, 2);
  DatasetReader r(dir.file("msmt.h5"));
  ASSERT_EQ(r.size(), 6);
  EXPECT_EQ(r.samples().path[0], "train/0005/0005_000_15_0303afternoon_0001_0.jpg");  // list order
  expectSample(r, "train/0005/0005_000_15_0303afternoon_0001_0.jpg",
               {5, 14, Split::kTrain, 1, false});
  expectSample(r, "train/0002/0002_000_01_0303morning_0015_0.jpg", {2, 0, Split::kTrain, 0, false});
  expectSample(r, "train/0002/0002_001_03_0303morning_0020_1.jpg", {2, 2, Split::kTrain, 0, false});
  expectSample(r, "test/0000/0000_000_02_0303noon_0001_0.jpg", {0, 1, Split::kQuery, -1, false});
  expectSample(r, "test/0001/0001_000_12_0303noon_0003_0.jpg", {1, 11, Split::kGallery, -1, false});
}

TEST(ImportersTest, Msmt17BadListLinesNameFileAndLine) {
  TempDir dir;
  const std::string root = dir.file("msmt");
  std::filesystem::create_directories(root);
  for (const char* l : {"list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"})
    testing::writeFile(root + "/" + l, "");
  std::filesystem::create_directories(root + "/train");
  std::filesystem::create_directories(root + "/test");
  testing::writeFile(root + "/list_query.txt", "\n0000/0000_000_02_x.jpg\n");
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", root, dir.file("x.h5")});
      },
      {"list_query.txt:2:", "expected 'PATH PID'"});
  testing::writeFile(root + "/list_query.txt", "0000/0000_nocam.jpg 0\n");
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", root, dir.file("x.h5")});
      },
      {"list_query.txt:1:", "camera"});
  testing::writeFile(root + "/list_query.txt", "0000/0000_000_02_x.jpg 0\n");
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", root, dir.file("x.h5")});
      },
      {"list_query.txt:1:", "test/0000/0000_000_02_x.jpg not found"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.h5")));
}

TEST(ImportersTest, OccludedReidConvertsTiffAndHasNoTrainSplit) {
  TempDir dir;
  const std::string root = dir.file("Occluded_REID");
  const std::string o = root + "/occluded_body_images/", w = root + "/whole_body_images/";
  std::filesystem::create_directories(o + "001");
  std::filesystem::create_directories(w + "001");
  std::filesystem::create_directories(o + "002");
  std::filesystem::create_directories(w + "002");
  ASSERT_EQ(testing::runPython("from PIL import Image\n"
                               "Image.new('RGB', (8, 16), (200, 40, 90)).save('" +
                               o +
                               "001/001_01.tif')\n"
                               "Image.new('RGB', (8, 16), (10, 220, 30)).save('" +
                               w + "001/001_01.tif')\n"),
            0);
  writeJpegFile(o + "002/002_01.jpg");
  writeJpegFile(w + "002/002_01.jpg");
  testing::writeFile(o + "Thumbs.db", "x");
  testing::writeFile(w + "002/desktop.ini", "x");
  testing::writeFile(w + "002/002_02.tif", std::string("II*\0garbage", 11));  // corrupt TIFF
  const ImportSummary s = importDataset({"occluded-reid", root, dir.file("or.h5")});
  EXPECT_EQ(s.converted, 2);
  EXPECT_EQ(s.splits[0].images, 0);
  EXPECT_EQ(s.splits[1].images, 2);
  EXPECT_EQ(s.splits[1].occluded, 2);
  EXPECT_EQ(s.splits[2].images, 2);
  EXPECT_EQ(s.skipped.at("not a person folder"), 1);
  EXPECT_EQ(s.skipped.at("not an image file"), 1);
  EXPECT_EQ(s.skipped.at("not a valid TIFF"), 1);
  DatasetReader r(dir.file("or.h5"));
  expectSample(r, "occluded_body_images/001/001_01.tif", {1, 0, Split::kQuery, -1, true});
  expectSample(r, "whole_body_images/002/002_01.jpg", {2, 1, Split::kGallery, -1, false});
  // The TIFF's pixels survive the JPEG re-encoding.
  const auto bytes = r.readJpeg(find(r, "occluded_body_images/001/001_01.tif"));
  const RgbImage img = decodeJpeg(bytes.data(), bytes.size(), "test");
  ASSERT_EQ(img.height, 16);
  ASSERT_EQ(img.width, 8);
  EXPECT_NEAR(img.pixels[3 * 40 + 0], 200, 4);
  EXPECT_NEAR(img.pixels[3 * 40 + 1], 40, 4);
  EXPECT_NEAR(img.pixels[3 * 40 + 2], 90, 4);
}

TEST(ImportersTest, PDukemtmcCamerasAndOcclusionFollowBpbreid) {
  TempDir dir;
  const std::string root = dir.file("P-DukeMTMC-reID");
  writeJpegFile(root + "/train/whole_body_images/0009/0009_c1_f1.jpg");
  writeJpegFile(root + "/train/whole_body_images/0001/0001_c1_f1.jpg");
  writeJpegFile(root + "/train/occluded_body_images/0001/0001_c2_f2.jpg");
  writeJpegFile(root + "/test/occluded_body_images/0003/0003_c1_f3.jpg");
  writeJpegFile(root + "/test/whole_body_images/0003/0003_c3_f4.jpg");
  writeJpegFile(root + "/test/whole_body_images/0004/0004_c3_f5.jpg");
  std::filesystem::create_directories(root + "/test/whole_body_images/misc");  // not a pid
  const ImportSummary s = importDataset({"p-dukemtmc", root, dir.file("pd.h5")});
  EXPECT_EQ(s.skipped.at("folder name is not a person id"), 1);
  DatasetReader r(dir.file("pd.h5"));
  ASSERT_EQ(r.size(), 6);
  expectSample(r, "train/whole_body_images/0009/0009_c1_f1.jpg", {9, 1, Split::kTrain, 1, false});
  expectSample(r, "train/whole_body_images/0001/0001_c1_f1.jpg", {1, 1, Split::kTrain, 0, false});
  expectSample(r, "train/occluded_body_images/0001/0001_c2_f2.jpg", {1, 0, Split::kTrain, 0, true});
  expectSample(r, "test/occluded_body_images/0003/0003_c1_f3.jpg", {3, 0, Split::kQuery, -1, true});
  expectSample(r, "test/whole_body_images/0004/0004_c3_f5.jpg", {4, 1, Split::kGallery, -1, false});
}

TEST(ImportersTest, CsvManifestWithHeaderOccludedAndPng) {
  TempDir dir;
  const std::string root = dir.file("custom");
  writeJpegFile(root + "/a/1.jpg");
  writeJpegFile(root + "/a/2.jpg");
  writeJpegFile(root + "/b/3.jpg");
  writeJpegFile(root + "/b/4.jpg");
  ASSERT_EQ(testing::runPython("from PIL import Image\nImage.new('RGB', (6, 12), (0, 0, 255))"
                               ".save('" +
                               root + "/b/5.png')\n"),
            0);
  testing::writeFile(root + "/manifest.csv",
                     "path,pid,camid,split,occluded\n"
                     "a/1.jpg,40,0,train,0\n"
                     "a/2.jpg, 12 ,3,train,1\n"
                     "b/3.jpg,12,1,query\n"
                     "b/4.jpg,-1,1,gallery\n"
                     "b/5.png,40,2,gallery,1\n");
  const ImportSummary s = importDataset({"csv", root, dir.file("c.h5")});
  EXPECT_EQ(s.junk_dropped, 1);
  EXPECT_EQ(s.converted, 1);
  EXPECT_TRUE(s.warnings.empty());  // no published statistics for custom sets
  DatasetReader r(dir.file("c.h5"));
  ASSERT_EQ(r.size(), 4);
  EXPECT_EQ(r.samples().path[0], "a/1.jpg");  // manifest order
  expectSample(r, "a/1.jpg", {40, 0, Split::kTrain, 1, false});
  expectSample(r, "a/2.jpg", {12, 3, Split::kTrain, 0, true});
  expectSample(r, "b/3.jpg", {12, 1, Split::kQuery, -1, false});
  expectSample(r, "b/5.png", {40, 2, Split::kGallery, -1, true});

  // A manifest elsewhere, without a header.
  testing::writeFile(dir.file("list.csv"), "a/1.jpg,1,0,gallery\n");
  ImportOptions o{"csv", root, dir.file("c2.h5")};
  o.manifest = dir.file("list.csv");
  EXPECT_EQ(importDataset(o).splits[2].images, 1);
}

TEST(ImportersTest, CsvBadRowNamesManifestAndLine) {
  TempDir dir;
  const std::string root = dir.file("custom");
  writeJpegFile(root + "/a/1.jpg");
  const std::string out = dir.file("c.h5");
  const std::string manifest = root + "/manifest.csv";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"path,pid,camid,split\na/1.jpg,1,0\n", "manifest.csv:2: expected 4 or 5 fields"},
      {"a/1.jpg,1,0,train\na/1.jpg,x,0,train\n", "manifest.csv:2: pid 'x'"},
      {"a/1.jpg,1,-2,train\n", "manifest.csv:1: camid '-2'"},
      {"a/1.jpg,1,0,test\n", "manifest.csv:1: split 'test' is not train, query or gallery"},
      {"a/1.jpg,1,0,train,2\n", "manifest.csv:1: occluded '2'"},
      {"\n\na/9.jpg,1,0,train\n", "manifest.csv:3: image"},
      {"/abs/1.jpg,1,0,train\n", "manifest.csv:1: path '/abs/1.jpg'"},
  };
  for (const auto& [content, message] : cases) {
    testing::writeFile(manifest, content);
    expectOneLineInputError([&] { importDataset({"csv", root, out}); }, {message});
    EXPECT_FALSE(std::filesystem::exists(out));
  }
  std::filesystem::remove(manifest);
  expectOneLineInputError(
      [&] {
        importDataset({"csv", root, out});
      },
      {"manifest.csv: no such manifest file"});
}

TEST(ImportersTest, BadRootsLayoutsAndSplits) {
  TempDir dir;
  const std::string out = dir.file("o.h5");
  expectOneLineInputError(
      [&] {
        importDataset({"market", dir.file("x"), out});
      },
      {"unknown layout 'market'", "market1501, dukemtmc, msmt17", "csv"});
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", dir.file("nope"), out});
      },
      {"nope: no such directory"});
  std::filesystem::create_directories(dir.file("empty"));
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", dir.file("empty"), out});
      },
      {"empty: directory is empty"});
  const std::string partial = dir.file("partial");
  writeJpegFile(partial + "/query/0001_c1s1_000001_00.jpg");
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", partial, out});
      },
      {"not a market1501 layout: missing bounding_box_train/, bounding_box_test/"});
  expectOneLineInputError(
      [&] {
        importDataset({"occluded-reid", partial, out});
      },
      {"missing occluded_body_images/, whole_body_images/"});
  expectOneLineInputError(
      [&] {
        importDataset({"p-dukemtmc", partial, out});
      },
      {"missing train/occluded_body_images/"});
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", partial, out});
      },
      {"missing train/, test/, list_train.txt"});
  // Empty split: query/ holds only junk.
  const std::string root = dir.file("m");
  makeMarketTree(root);
  std::filesystem::remove_all(root + "/query");
  writeJpegFile(root + "/query/-1_c1s1_000001_00.jpg");
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", root, out});
      },
      {"the query split is empty", "query/", "requires it"});
  // Empty after skipping: the only query image is corrupt.
  testing::writeFile(root + "/query/0002_c1s1_000002_00.jpg", "garbage");
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", root, out});
      },
      {"the query split is empty after skipping unusable images"});
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_TRUE(testing::tempLeftovers(dir.path().string()).empty());
}

TEST(ImportersTest, TrainingIdentityWithOnlyCorruptImagesIsAnError) {
  TempDir dir;
  const std::string root = dir.file("m");
  makeMarketTree(root);
  // pid 5 has one training image; corrupt it and labels could no longer be contiguous.
  testing::writeFile(root + "/bounding_box_train/0005_c6s2_000100_02.jpg", "garbage");
  const std::string out = dir.file("o.h5");
  expectOneLineInputError(
      [&] {
        importDataset({"market1501", root, out});
      },
      {"1 training identities lost every image to skipped files"});
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_TRUE(testing::tempLeftovers(dir.path().string()).empty());
}

}  // namespace
}  // namespace agreid::data
