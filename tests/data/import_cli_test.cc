// `agreid import` and `agreid inspect` end to end: output on success, and for every bad input a
// one-line error, exit code 2 and no output file left behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/dataset.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

namespace fs = std::filesystem;

void makeMarket(const std::string& root) {
  writeJpegFile(root + "/bounding_box_train/0002_c1s1_000451_03.jpg", 1);
  writeJpegFile(root + "/bounding_box_train/0005_c2s1_000451_03.jpg", 2);
  writeJpegFile(root + "/query/0002_c3s1_000001_00.jpg", 3);
  writeJpegFile(root + "/bounding_box_test/0002_c1s1_000002_01.jpg", 4);
  writeJpegFile(root + "/bounding_box_test/-1_c1s1_000003_01.jpg", 5);
  writeFile(root + "/bounding_box_test/Thumbs.db", "x");
}

// Runs agreid and checks: exit code 2, exactly one stderr line containing `message`, no `out`.
void expectInputError(const std::vector<std::string>& args, const std::string& message,
                      const std::string& out = "") {
  const CommandResult r = runAgreid(args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << "'" << message << "' not in: " << r.err;
  if (!out.empty()) {
    EXPECT_FALSE(fs::exists(out)) << out;
    EXPECT_TRUE(tempLeftovers(fs::path(out).parent_path().string()).empty()) << out;
  }
}

TEST(ImportCliTest, ImportThenInspect) {
  TempDir dir;
  makeMarket(dir.file("market"));
  const std::string out = dir.file("market.h5");
  const CommandResult imp =
      runAgreid({"import", "market1501", "--root", dir.file("market"), "--out", out});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  EXPECT_NE(imp.out.find("imported market1501"), std::string::npos) << imp.out;
  EXPECT_NE(imp.out.find("junk (pid -1) dropped: 1"), std::string::npos) << imp.out;
  EXPECT_NE(imp.out.find("not a .jpg file: 1"), std::string::npos) << imp.out;
  // Not a terminal: plain progress lines (time-stamped, no '\r'), and a warning about the
  // published counts.
  EXPECT_NE(imp.out.find(" import: 4/4 images (100%), "), std::string::npos) << imp.out;
  EXPECT_NE(imp.out.find(" import: done, 4 images in "), std::string::npos) << imp.out;
  EXPECT_EQ(imp.out.find('\r'), std::string::npos) << imp.out;
  EXPECT_NE(imp.err.find("warning: market1501: imported train 2 ids / 2 images"), std::string::npos)
      << imp.err;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_TRUE(tempLeftovers(dir.path().string()).empty());

  const CommandResult ins = runAgreid({"inspect", out});
  ASSERT_EQ(ins.exit_code, 0) << ins.err;
  data::DatasetReader reader(out);
  for (const std::string& part :
       {std::string("agreid dataset"), std::string("format version: 1"),
        std::string("dataset:        market1501"), "checksum:       " + reader.info().checksum,
        std::string("samples:        4"), std::string("attributes:     none"),
        std::string("captions:       none")}) {
    EXPECT_NE(ins.out.find(part), std::string::npos) << "'" << part << "' not in:\n" << ins.out;
  }
  EXPECT_NE(ins.out.find("train           2 images       2 identities    2 cameras    0.0% "
                         "occluded"),
            std::string::npos)
      << ins.out;
  const CommandResult ver = runAgreid({"inspect", out, "--verify"});
  ASSERT_EQ(ver.exit_code, 0) << ver.err;
  EXPECT_NE(ver.out.find("verified:       checksum matches; all 4 images decode"),
            std::string::npos)
      << ver.out;
}

TEST(ImportCliTest, ImportBadInputs) {
  TempDir dir;
  const std::string out = dir.file("o.h5");
  expectInputError({"import", "market", "--root", dir.path().string(), "--out", out},
                   "unknown layout 'market' (valid: market1501, dukemtmc, msmt17, "
                   "occluded-duke, occluded-reid, p-dukemtmc, csv)",
                   out);
  expectInputError({"import", "market1501", "--root", dir.file("absent"), "--out", out},
                   "absent: no such directory", out);
  fs::create_directories(dir.file("empty"));
  expectInputError({"import", "market1501", "--root", dir.file("empty"), "--out", out},
                   "empty: directory is empty", out);
  writeJpegFile(dir.file("partial/query/0001_c1s1_000001_00.jpg"));
  expectInputError({"import", "dukemtmc", "--root", dir.file("partial"), "--out", out},
                   "not a dukemtmc layout: missing bounding_box_train/, bounding_box_test/", out);
  const std::string root = dir.file("market");
  makeMarket(root);
  fs::remove_all(root + "/query");
  fs::create_directories(root + "/query");
  expectInputError({"import", "market1501", "--root", root, "--out", out},
                   "the query split is empty", out);
  writeJpegFile(dir.file("custom/a.jpg"));
  writeFile(dir.file("custom/manifest.csv"), "path,pid,camid,split\na.jpg,1,0,train\na.jpg,1\n");
  expectInputError({"import", "csv", "--root", dir.file("custom"), "--out", out},
                   "manifest.csv:3: expected 4 or 5 fields", out);
  expectInputError({"import", "market1501", "--out", out}, "--root DIR is required", out);
  expectInputError({"import", "market1501", "--root", root}, "--out FILE.h5 is required");
  expectInputError({"import", "--root", root, "--out", out}, "expected one LAYOUT", out);
}

TEST(ImportCliTest, InspectBadFiles) {
  TempDir dir;
  expectInputError({"inspect", dir.file("absent.h5")}, "absent.h5: no such file");
  writeFile(dir.file("notes.txt"), "hello\n");
  expectInputError({"inspect", dir.file("notes.txt")},
                   "notes.txt: not an agreid dataset, pseudo-label cache, features file, re-ID "
                   "model, training checkpoint or CLIP weights");

  makeMarket(dir.file("market"));
  const std::string good = dir.file("good.h5");
  ASSERT_EQ(
      runAgreid({"import", "market1501", "--root", dir.file("market"), "--out", good}).exit_code,
      0);
  const std::string cut = dir.file("cut.h5");
  fs::copy_file(good, cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  expectInputError({"inspect", cut}, "cannot be opened: truncated?");

  // A corrupt image inside a dataset: --verify names the sample index and source path.
  const std::string bad = dir.file("bad.h5");
  {
    data::DatasetWriter writer(bad, data::WriterOptions{});
    data::SampleRecord r;
    r.jpeg = tinyJpeg(8, 8, 1);
    r.path = "query/0001_c1s1_000001_00.jpg";
    writer.add(r);
    r.jpeg = {0xff, 0xd8, 0xff, 0x00, 0x01};
    r.path = "query/0002_c1s1_000002_00.jpg";
    writer.add(r);
    writer.finish();
  }
  ASSERT_EQ(runAgreid({"inspect", bad}).exit_code, 0);
  expectInputError({"inspect", bad, "--verify"},
                   "bad.h5 sample 1 (query/0002_c1s1_000002_00.jpg): not a valid JPEG");

  if (runShell(shellQuote(AGREID_PYTHON) + " -c 'import h5py'").exit_code != 0) {
    GTEST_SKIP() << "Debian python3 with h5py not found";
  }
  const std::string old = dir.file("future.h5");
  const std::string missing = dir.file("missing.h5");
  const std::string tampered = dir.file("tampered.h5");
  for (const auto& p : {old, missing, tampered}) fs::copy_file(good, p);
  ASSERT_EQ(runPython("import h5py, numpy as np\n"
                      "with h5py.File('" +
                      old +
                      "', 'r+') as f:\n"
                      "    f.attrs['format_version'] = np.int64(7)\n"
                      "with h5py.File('" +
                      missing +
                      "', 'r+') as f:\n"
                      "    del f['samples/occluded']\n"
                      "with h5py.File('" +
                      tampered +
                      "', 'r+') as f:\n"
                      "    f['samples/pid'][0] = 77\n"),
            0);
  expectInputError({"inspect", old}, "format_version 7 is newer than this agreid supports (1)");
  expectInputError({"inspect", missing}, "missing required field /samples/occluded");
  ASSERT_EQ(runAgreid({"inspect", tampered}).exit_code, 0);
  expectInputError({"inspect", tampered, "--verify"}, "tampered.h5: checksum mismatch");
}

}  // namespace
}  // namespace agreid::testing
