// Data and file integrity at the library level: identifiers that int32 cannot hold, manifest paths
// leaving the root, JPEGs that are truncated or claim absurd sizes, a full disk under every
// writer, and temporaries that are unique and never follow a symbolic link.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/atomic_file.h"
#include "base/error.h"
#include "data/dataset.h"
#include "data/importers.h"
#include "data/jpeg_codec.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

namespace fs = std::filesystem;
using testing::expectOneLineInputError;
using testing::TempDir;
using testing::writeJpegFile;

// A Market-style tree with two training identities, one query and one gallery image.
void makeSmallMarket(const std::string& root) {
  writeJpegFile(root + "/bounding_box_train/0002_c1s1_000451_03.jpg", 1);
  writeJpegFile(root + "/bounding_box_train/0005_c2s1_000451_03.jpg", 2);
  writeJpegFile(root + "/query/0002_c3s1_000001_00.jpg", 3);
  writeJpegFile(root + "/bounding_box_test/0002_c1s1_000002_01.jpg", 4);
}

TEST(IntegrityTest, PersonIdsAboveInt32AreErrorsNotWrappedAround) {
  TempDir dir;
  const std::string root = dir.file("duke");
  makeSmallMarket(root);
  // 4294967298 = 2^32 + 2 used to be stored as pid 2, merging two people.
  writeJpegFile(root + "/bounding_box_train/4294967298_c1s1_000001_01.jpg", 5);
  expectOneLineInputError(
      [&] {
        importDataset({"dukemtmc", root, dir.file("d.h5")});
      },
      {"bounding_box_train/4294967298_c1s1_000001_01.jpg",
       "person id 4294967298 outside 0..2147483647"});
  EXPECT_FALSE(fs::exists(dir.file("d.h5")));

  const std::string csv = dir.file("csv");
  writeJpegFile(csv + "/a.jpg", 1);
  testing::writeFile(csv + "/manifest.csv", "a.jpg,1,0,train\na.jpg,2147483648,0,train\n");
  expectOneLineInputError(
      [&] {
        importDataset({"csv", csv, dir.file("c.h5")});
      },
      {"manifest.csv:2: pid '2147483648'", "-1..2147483647"});
  // The largest int32 is a valid id.
  testing::writeFile(csv + "/manifest.csv",
                     "a.jpg,2147483647,0,train\na.jpg,1,0,query\na.jpg,1,1,gallery\n");
  importDataset({"csv", csv, dir.file("c.h5")});
  EXPECT_EQ(DatasetReader(dir.file("c.h5")).samples().pid[0], 2147483647);

  const std::string occ = dir.file("occ");
  writeJpegFile(occ + "/occluded_body_images/4294967298/1.jpg", 1);
  writeJpegFile(occ + "/whole_body_images/001/1.jpg", 2);
  expectOneLineInputError(
      [&] {
        importDataset({"occluded-reid", occ, dir.file("o.h5")});
      },
      {"occluded_body_images/4294967298", "person id 4294967298 outside"});

  const std::string msmt = dir.file("msmt");
  fs::create_directories(msmt);
  for (const char* list : {"list_train.txt", "list_val.txt", "list_query.txt"}) {
    testing::writeFile(msmt + "/" + list, "");
  }
  testing::writeFile(msmt + "/list_gallery.txt",
                     "0000/0000_000_01_0303noon_0001_0.jpg 4294967296\n");
  writeJpegFile(msmt + "/train/x.jpg");
  writeJpegFile(msmt + "/test/0000/0000_000_01_0303noon_0001_0.jpg");
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", msmt, dir.file("m.h5")});
      },
      {"list_gallery.txt:1:", "person id 4294967296 outside"});
}

TEST(IntegrityTest, ManifestPathsMayNotLeaveTheRoot) {
  TempDir dir;
  const std::string root = dir.file("custom");
  writeJpegFile(root + "/a/1.jpg");
  writeJpegFile(dir.file("outside.jpg"));  // exists: the row must be refused, not read
  const std::string manifest = root + "/manifest.csv";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"../outside.jpg,1,0,train\n", "manifest.csv:1: path '../outside.jpg'"},
      {"a/1.jpg,1,0,train\na/../../outside.jpg,1,0,train\n",
       "manifest.csv:2: path 'a/../../outside.jpg'"},
      {dir.file("outside.jpg") + ",1,0,train\n", "manifest.csv:1: path '/"},
  };
  for (const auto& [content, message] : cases) {
    testing::writeFile(manifest, content);
    expectOneLineInputError(
        [&] {
          importDataset({"csv", root, dir.file("c.h5")});
        },
        {message, "stay inside"});
    EXPECT_FALSE(fs::exists(dir.file("c.h5")));
  }
  // The same holds for MSMT17's list files.
  const std::string msmt = dir.file("msmt");
  fs::create_directories(msmt);
  for (const char* list : {"list_train.txt", "list_val.txt", "list_query.txt"}) {
    testing::writeFile(msmt + "/" + list, "");
  }
  testing::writeFile(msmt + "/list_gallery.txt", "../../outside_0_01_x.jpg 1\n");
  fs::create_directories(msmt + "/train");
  fs::create_directories(msmt + "/test");
  expectOneLineInputError(
      [&] {
        importDataset({"msmt17", msmt, dir.file("m.h5")});
      },
      {"list_gallery.txt:1:", "path '../../outside_0_01_x.jpg'"});
}

// A JPEG with real entropy-coded data, then cut inside its scan: the header is intact.
std::vector<uint8_t> truncatedMidScan() {
  std::vector<uint8_t> bytes = testing::tinyJpeg(64, 48, 9);
  bytes.resize(bytes.size() * 2 / 3);
  return bytes;
}

TEST(IntegrityTest, JpegTruncatedMidScanIsRejectedNamingTheSample) {
  const std::vector<uint8_t> cut = truncatedMidScan();
  const auto [height, width] = jpegSize(cut.data(), cut.size(), "cut.jpg");
  EXPECT_EQ(height, 64);  // the header alone looks fine
  EXPECT_EQ(width, 48);
  expectOneLineInputError([&] { decodeJpeg(cut.data(), cut.size(), "data.h5 sample 3 (a.jpg)"); },
                          {"data.h5 sample 3 (a.jpg): not a valid JPEG"});

  TempDir dir;
  const std::string root = dir.file("m");
  makeSmallMarket(root);
  writeJpegFile(root + "/bounding_box_train/0005_c3s1_000452_03.jpg", 6);
  testing::writeBytes(root + "/bounding_box_train/0005_c4s1_000453_03.jpg", cut);
  const ImportSummary s = importDataset({"market1501", root, dir.file("o.h5")});
  EXPECT_EQ(s.skipped.at("not a valid JPEG"), 1);
  ASSERT_FALSE(s.skipped_examples.empty());
  EXPECT_NE(s.skipped_examples.back().find("0005_c4s1_000453_03.jpg"), std::string::npos);
  EXPECT_EQ(s.splits[0].images, 3);
}

TEST(IntegrityTest, JpegClaimingAHugeSizeIsRejectedBeforeAllocating) {
  std::vector<uint8_t> bytes = testing::tinyJpeg(16, 8, 1);
  bool patched = false;
  for (size_t i = 0; i + 8 < bytes.size(); ++i) {
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) H(2) W(2)
      bytes[i + 5] = bytes[i + 7] = 0xFF;
      bytes[i + 6] = bytes[i + 8] = 0xDC;  // 65500 x 65500
      patched = true;
      break;
    }
  }
  ASSERT_TRUE(patched);
  for (bool header_only : {false, true}) {
    expectOneLineInputError(
        [&] {
          if (header_only) {
            jpegSize(bytes.data(), bytes.size(), "data.h5 sample 7 (big.jpg)");
          } else {
            decodeJpeg(bytes.data(), bytes.size(), "data.h5 sample 7 (big.jpg)");
          }
        },
        {"data.h5 sample 7 (big.jpg)", "65500 x 65500", "exceeds"});
  }
}

// Writes `records` samples of 10 kB each into `path`.
void writeSamples(const std::string& path, int records) {
  WriterOptions o;
  o.chunk_bytes = 1 << 16;
  DatasetWriter writer(path, o);
  for (int i = 0; i < records; ++i) {
    SampleRecord r;
    r.jpeg.assign(10000, static_cast<uint8_t>(i));
    r.pid = i;
    r.path = "p" + std::to_string(i) + ".jpg";
    writer.add(r);
  }
  writer.finish();
}

TEST(IntegrityTest, FullDiskIsAnInputErrorAndLeavesNothing) {
  testing::SmallDisk disk(256);
  AGREID_REQUIRE_SMALL_DISK(disk);
  // 20 samples fail at the final flush, 100 while the images are appended.
  for (int records : {20, 100}) {
    expectOneLineInputError([&] { writeSamples(disk.file("d.h5"), records); },
                            {disk.file("d.h5"), "No space left on device"});
    EXPECT_TRUE(fs::is_empty(disk.dir())) << records;
  }
  // The disk is usable again afterwards: nothing leaked.
  writeSamples(disk.file("d.h5"), 5);
  EXPECT_NO_THROW(DatasetReader(disk.file("d.h5")));
  fs::remove(disk.file("d.h5"));

  expectOneLineInputError(
      [&] { writeFileAtomically(disk.file("big.txt"), std::string(400 << 10, 'x')); },
      {disk.file("big.txt"), "No space left on device"});
  EXPECT_TRUE(fs::is_empty(disk.dir()));
}

TEST(IntegrityTest, SymlinkAtTheOldTemporaryNameIsNotFollowed) {
  TempDir dir;
  const std::string root = dir.file("m");
  makeSmallMarket(root);
  const std::string victim = dir.file("victim.txt");
  testing::writeFile(victim, "precious");
  const std::string out = dir.file("o.h5");
  fs::create_symlink(victim, out + ".tmp");
  importDataset({"market1501", root, out});
  EXPECT_EQ(testing::readFile(victim), "precious");
  EXPECT_TRUE(fs::is_symlink(out + ".tmp"));
  EXPECT_EQ(DatasetReader(out).size(), 4);

  writeFileAtomically(dir.file("note.txt"), "hello");
  fs::create_symlink(victim, dir.file("note.txt.tmp"));
  writeFileAtomically(dir.file("note.txt"), "again");
  EXPECT_EQ(testing::readFile(victim), "precious");
  EXPECT_EQ(testing::readFile(dir.file("note.txt")), "again");
}

TEST(IntegrityTest, TemporariesAreUniqueAndRemovedUnlessCommitted) {
  TempDir dir;
  const std::string target = dir.file("t.bin");
  {
    TempFile a(target), b(target);
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(isTempNameFor(fs::path(a.path()).filename().string(), "t.bin"));
    a.write("abc", 3);
    EXPECT_TRUE(fs::exists(a.path()));
  }  // neither committed
  EXPECT_TRUE(fs::is_empty(dir.path()));
  expectOneLineInputError([&] { TempFile f(dir.file("missing/t.bin")); },
                          {dir.file("missing/t.bin"), "cannot create a file"});
}

}  // namespace
}  // namespace agreid::data
