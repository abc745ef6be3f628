// The optional /attributes/visibility field: written and read back aligned with the attribute
// columns, covered by the checksum, and refused on open when its type, shape or values are wrong
// (one InputError line naming the file and the field). Damaged files are made with h5py.
#include <gtest/gtest.h>

#include "base/error.h"
#include "data/dataset.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

using testing::expectOneLineInputError;
using testing::haveH5py;
using testing::TempDir;

// Three samples with two attributes; with visibility unless `visibility` is false.
std::string writeWithAttributes(const std::string& path, bool visibility = true) {
  WriterOptions w;
  w.attribute_names = {"hat", "shoes"};
  w.attribute_values = {{"none", "cap"}, {"black", "white"}};
  DatasetWriter writer(path, w);
  for (int i = 0; i < 3; ++i) {
    SampleRecord r;
    r.jpeg = testing::tinyJpeg(8, 8, static_cast<uint8_t>(i));
    r.pid = i;
    r.path = "p" + std::to_string(i) + ".jpg";
    r.attributes = {i % 2, 1};
    if (visibility) r.visibility = {1.f, 0.25f * static_cast<float>(i)};
    writer.add(r);
  }
  writer.finish();
  return path;
}

TEST(DatasetVisibilityTest, RoundTripsAndIsCoveredByTheChecksum) {
  TempDir dir;
  DatasetReader with(writeWithAttributes(dir.file("with.h5")));
  EXPECT_TRUE(with.info().has_visibility);
  EXPECT_EQ(with.visibility(), (std::vector<float>{1.f, 0.f, 1.f, 0.25f, 1.f, 0.5f}));
  EXPECT_EQ(with.recomputeChecksum(), with.info().checksum);
  DatasetReader without(writeWithAttributes(dir.file("without.h5"), false));
  EXPECT_FALSE(without.info().has_visibility);
  EXPECT_TRUE(without.visibility().empty());
  EXPECT_NE(with.info().checksum, without.info().checksum);
}

// Rewrites /attributes/visibility of a good file with `data` (a numpy expression).
std::string withVisibility(const TempDir& dir, const std::string& name, const std::string& data) {
  const std::string path = writeWithAttributes(dir.file(name));
  EXPECT_EQ(testing::runPython("import h5py, numpy as np\nf = h5py.File('" + path +
                               "', 'r+')\ndel f['/attributes/visibility']\n"
                               "f['/attributes/visibility'] = " +
                               data + "\nf.close()\n"),
            0);
  return path;
}

struct BadField {
  std::string data;      // numpy expression stored as /attributes/visibility
  std::string expected;  // part of the error message
};

// Each bad field makes opening the file one InputError line naming the file and the field.
void expectEachRefused(const std::vector<BadField>& cases, const std::string& also) {
  TempDir dir;
  int i = 0;
  for (const BadField& c : cases) {
    const std::string path = withVisibility(dir, "bad" + std::to_string(i++) + ".h5", c.data);
    expectOneLineInputError([&] { DatasetReader r(path); },
                            {path, "/attributes/visibility", c.expected, also});
  }
}

TEST(DatasetVisibilityTest, RefusesAFieldOfTheWrongTypeOrShape) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  expectEachRefused({{"np.ones((3, 3), np.float32)", "3 columns, expected 2"},
                     {"np.ones((2, 2), np.float32)", "2 entries, expected 3"},
                     {"np.ones(6, np.float32)", "1 dimensions, expected 2"},
                     {"np.ones((3, 2), np.int32)", "expected float32"},
                     {"np.ones((3, 2), np.float64)", "expected float32"}},
                    "");
}

TEST(DatasetVisibilityTest, RefusesFractionsOutsideZeroToOne) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  expectEachRefused({{"np.array([[1, 1], [1, 1.5], [1, 1]], np.float32)", "[1, 1] is 1.5"},
                     {"np.array([[1, 1], [1, 1], [-0.25, 1]], np.float32)", "[2, 0] is -0.25"},
                     {"np.array([[1, np.nan], [1, 1], [1, 1]], np.float32)", "[0, 1] is nan"}},
                    "[0, 1]");
}

}  // namespace
}  // namespace agreid::data
