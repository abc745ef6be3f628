// verifyZipArchive against archives LibTorch writes (stored entries), a deflated archive written
// by Python's zipfile, and the damage a disk or a copy can do: a flipped bit in tensor bytes, a
// truncated file, a file that is not a zip at all.
#include "trainer/util/zip_verify.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "base/error.h"
#include "tests/support/test_support.h"

namespace agreid::trainer {
namespace {

using agreid::testing::TempDir;

std::string saveTensors(const TempDir& dir) {
  const std::string path = dir.file("t.pt");
  torch::manual_seed(3);
  std::vector<torch::Tensor> tensors = {torch::randn({64, 32}), torch::arange(1000)};
  torch::save(tensors, path);
  return path;
}

std::string bytesOf(const std::string& path) { return agreid::testing::readFile(path); }

// Index of the first occurrence of `needle` (the raw bytes of a tensor) in the archive.
size_t find(const std::string& hay, const torch::Tensor& t) {
  const std::string needle(static_cast<const char*>(t.data_ptr()), t.nbytes());
  const size_t at = hay.find(needle);
  EXPECT_NE(at, std::string::npos);
  return at;
}

std::string errorOf(const std::string& path) {
  try {
    verifyZipArchive(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ZipVerify, AcceptsLibTorchArchive) {
  TempDir dir;
  const std::string path = saveTensors(dir);
  const ZipSummary s = verifyZipArchive(path);
  EXPECT_GE(s.entries, 3);  // data.pkl, version and one entry per tensor storage
  EXPECT_GE(s.data_bytes, 64 * 32 * 4 + 1000 * 8);
}

TEST(ZipVerify, FlippedTensorBitIsNamed) {
  TempDir dir;
  const std::string path = saveTensors(dir);
  std::string bytes = bytesOf(path);
  torch::manual_seed(3);
  const torch::Tensor first = torch::randn({64, 32});
  bytes[find(bytes, first) + 100] ^= 0x10;
  agreid::testing::writeFile(path, bytes);
  const std::string err = errorOf(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("CRC-32"), std::string::npos) << err;
  EXPECT_NE(err.find("data/"), std::string::npos) << err;  // the tensor's entry is named
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

TEST(ZipVerify, DamagedEntryNameIsCaught) {
  TempDir dir;
  const std::string path = saveTensors(dir);
  const std::string bytes = bytesOf(path);
  // Flip one bit of the first entry name, in the local header and then in the central directory.
  const size_t local = bytes.find("PK\x03\x04") + 30;
  const size_t central = bytes.find("PK\x01\x02") + 46;
  for (size_t at : {local, central}) {
    std::string damaged = bytes;
    damaged[at + 2] ^= 0x02;
    agreid::testing::writeFile(path, damaged);
    EXPECT_NE(errorOf(path).find("names it differently"), std::string::npos) << errorOf(path);
  }
}

TEST(ZipVerify, TruncatedArchiveIsRejected) {
  TempDir dir;
  const std::string path = saveTensors(dir);
  const std::string bytes = bytesOf(path);
  for (size_t keep : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    agreid::testing::writeFile(path, bytes.substr(0, keep));
    const std::string err = errorOf(path);
    EXPECT_NE(err.find(path), std::string::npos) << "kept " << keep << ": " << err;
  }
}

TEST(ZipVerify, NotAZip) {
  TempDir dir;
  const std::string path = dir.file("plain.txt");
  agreid::testing::writeFile(path, std::string(200, 'x'));
  EXPECT_NE(errorOf(path).find("no end-of-central-directory"), std::string::npos);
  EXPECT_NE(errorOf(dir.file("missing.pt")).find("cannot open"), std::string::npos);
}

TEST(ZipVerify, DeflatedEntriesAreInflatedAndChecked) {
  TempDir dir;
  const std::string path = dir.file("deflated.zip");
  const std::string script =
      "import sys, zipfile\n"
      "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
      "    z.writestr('a/words', 'occluded person ' * 5000)\n"
      "    z.writestr('a/empty', '')\n"
      "    z.writestr('b/bytes', bytes(range(256)) * 300)\n"
      "    z.writestr('a/version', '3\\n')\n";
  agreid::testing::writeFile(dir.file("mk.py"), script);
  const auto made = agreid::testing::runShell("python3 " + dir.file("mk.py") + " " + path);
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const ZipSummary s = verifyZipArchive(path);
  EXPECT_EQ(s.entries, 4);
  EXPECT_EQ(s.data_bytes, 16 * 5000 + 256 * 300 + 2);
  // Damage inside the compressed stream: either inflate fails or the CRC does.
  std::string bytes = bytesOf(path);
  bytes[60] ^= 0x01;
  agreid::testing::writeFile(path, bytes);
  EXPECT_NE(errorOf(path).find("damaged archive"), std::string::npos);
}

// Archives with intact CRCs that LibTorch's reader would refuse from inside its constructor,
// leaking the directory it read (Note [LibTorch archive layout]): refused before it sees them.
TEST(ZipVerify, LayoutLibTorchRefusesIsRefusedFirst) {
  TempDir dir;
  const std::string path = dir.file("x.pt");
  // Each case: Python (name, bytes) pairs written in order, and the error expected.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"('a/data.pkl', b'x')", "no version record 'a/version'"},
      {"('a/data.pkl', b'x'), ('a/version', b'0')",
       "version record 'a/version' is not a supported LibTorch format version (1..10)"},
      {"('a/data.pkl', b'x'), ('a/version', b'eleven')",
       "version record 'a/version' is not a supported"},
      {"('a/data.pkl', b'x'), ('a/.data/version', b'99'), ('a/version', b'3')",
       "version record 'a/.data/version' is not a supported"},
      {"('data.pkl', b'x'), ('a/version', b'3')", "first entry 'data.pkl' is not inside a folder"},
      {"('a/version', b'3'), ('a/Data.pkl', b'x'), ('a/data.PKL', b'y')",
       "two entries named 'a/data.PKL'"},
  };
  for (const auto& [entries, expected] : cases) {
    const std::string script =
        "import sys, zipfile, warnings\nwarnings.simplefilter('ignore')\n"
        "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
        "    for name, data in [" +
        entries + "]: z.writestr(name, data)\n";
    agreid::testing::writeFile(dir.file("mk.py"), script);
    const auto made = agreid::testing::runShell("python3 " + dir.file("mk.py") + " " + path);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const std::string err = errorOf(path);
    EXPECT_NE(err.find(path + ": damaged archive: " + expected), std::string::npos)
        << entries << ": " << err;
  }
  // The same layouts, intact, are accepted.
  agreid::testing::writeFile(
      dir.file("mk.py"),
      "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
      "    z.writestr('a/data.pkl', b'x'); z.writestr('a/.data/version', b'3\\n')\n");
  ASSERT_EQ(agreid::testing::runShell("python3 " + dir.file("mk.py") + " " + path).exit_code, 0);
  const ZipSummary s = verifyZipArchive(path);
  EXPECT_EQ(s.folder, "a/");
  EXPECT_TRUE(s.hasRecord("DATA.pkl"));
  EXPECT_FALSE(s.hasRecord("constants.pkl"));
}

}  // namespace
}  // namespace agreid::trainer
