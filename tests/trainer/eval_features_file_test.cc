// The features file: round trip, and one-line InputErrors for missing files and bad content.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/features_file.h"
#include "trainer/util/array_file.h"

namespace agreid::trainer {
namespace {

std::string errorOf(const std::string& path) {
  try {
    readFeaturesFile(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FeaturesFile, RoundTrip) {
  const auto data = testing::makeSyntheticEval({});
  testing::TempDir tmp;
  const std::string path = tmp.file("q.h5");
  writeFeaturesFile(path, data.query);
  // Only the file itself remains: no temporary beside it.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) {
    EXPECT_EQ(e.path().filename(), "q.h5");
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  const FeatureSet back = readFeaturesFile(path);
  EXPECT_TRUE(at::equal(back.features, data.query.features));
  EXPECT_EQ(back.pid, data.query.pid);
  EXPECT_EQ(back.camid, data.query.camid);
  EXPECT_EQ(back.index, data.query.index);
  EXPECT_EQ(back.occluded, data.query.occluded);
  EXPECT_EQ(back.info.split, "query");
  EXPECT_EQ(back.info.kind, "reid");
  EXPECT_EQ(back.info.dataset, "synthetic.h5");

  FeatureSet no_occ = data.gallery;
  no_occ.occluded.clear();
  writeFeaturesFile(path, no_occ);
  EXPECT_FALSE(readFeaturesFile(path).hasOccluded());
}

TEST(FeaturesFile, MissingFileAndNotHdf5) {
  testing::TempDir tmp;
  std::string e = errorOf(tmp.file("absent.h5"));
  EXPECT_NE(e.find("absent.h5: features file not found"), std::string::npos) << e;
  testing::writeFile(tmp.file("text.h5"), "not hdf5");
  e = errorOf(tmp.file("text.h5"));
  EXPECT_NE(e.find("text.h5"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

// Writes a file like a features file with one field changed by `edit`.
void writeVariant(const std::string& path, const std::function<void(ArrayFileWriter&)>& edit,
                  bool with_pid = true) {
  ArrayFileWriter w(path);
  w.writeAttribute("format_version", "1");
  edit(w);
  if (with_pid) w.writeTensor("pid", at::arange(4, at::kLong));
  w.writeTensor("camid", at::zeros({4}, at::kLong));
  w.writeTensor("index", at::arange(4, at::kLong));
  w.commit();
}

TEST(FeaturesFile, BadContentNamesFileAndField) {
  testing::TempDir tmp;
  const std::string p = tmp.file("bad.h5");
  writeVariant(
      p,
      [](ArrayFileWriter& w) {
        w.writeTensor("features", at::zeros({4, 3}));
      },
      false);
  EXPECT_NE(errorOf(p).find("bad.h5: features file lacks the field 'pid'"), std::string::npos)
      << errorOf(p);
  writeVariant(p, [](ArrayFileWriter& w) { w.writeTensor("features", at::zeros({4})); });
  EXPECT_NE(errorOf(p).find("field 'features' must be a float array [N, D]"), std::string::npos)
      << errorOf(p);
  writeVariant(p, [](ArrayFileWriter& w) { w.writeTensor("features", at::zeros({5, 3})); });
  EXPECT_NE(errorOf(p).find("field 'pid' has 4 entries, expected 5"), std::string::npos)
      << errorOf(p);
  writeVariant(p, [](ArrayFileWriter&) {});
  EXPECT_NE(errorOf(p).find("lacks the field 'features'"), std::string::npos) << errorOf(p);

  ArrayFileWriter w(p);
  w.writeTensor("features", at::zeros({4, 3}));
  w.commit();
  EXPECT_NE(errorOf(p).find("not an agreid features file"), std::string::npos) << errorOf(p);
}

// A damaged header that claims an array of 2^62 bytes is refused with a one-line InputError
// before anything is allocated for it (found by fuzz_features: it was LibTorch's allocation
// error, which ended the process).
TEST(FeaturesFile, ArrayLargerThanTheFileIsRefused) {
  testing::TempDir tmp;
  const std::string p = tmp.file("huge.h5");
  const hid_t file = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hsize_t dims[2] = {hsize_t{1} << 40, hsize_t{1} << 20};  // never written: no storage
  const hid_t space = H5Screate_simple(2, dims, nullptr);
  const hid_t set =
      H5Dcreate2(file, "features", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(set, 0);
  H5Dclose(set);
  H5Sclose(space);
  H5Fclose(file);
  try {
    ArrayFileReader(p).readTensor("features");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("huge.h5: array 'features' claims 4611686018427387904 bytes, more than"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace agreid::trainer
