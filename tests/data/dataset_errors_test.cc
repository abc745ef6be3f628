// Bad dataset files: each failure is one InputError line naming the file and what is wrong.
// Damaged files are made from a good one with h5py (Debian's python3).
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
using testing::haveH5py;
using testing::TempDir;

std::string writeGood(const std::string& path, int n = 5) {
  DatasetWriter writer(path, WriterOptions{});
  for (int i = 0; i < n; ++i) {
    SampleRecord r;
    r.jpeg = testing::tinyJpeg(8, 8, static_cast<uint8_t>(i));
    r.pid = i;
    r.path = "p" + std::to_string(i) + ".jpg";
    writer.add(r);
  }
  writer.finish();
  return path;
}

// Copies a good file and applies `edit` (Python, with `f` an h5py.File opened r+).
std::string damaged(const TempDir& dir, const std::string& name, const std::string& edit) {
  const std::string path = writeGood(dir.file(name));
  const std::string script =
      "import h5py, numpy as np\nf = h5py.File('" + path + "', 'r+')\n" + edit + "\nf.close()\n";
  EXPECT_EQ(testing::runPython(script), 0);
  return path;
}

TEST(DatasetErrorsTest, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("absent.h5");
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "no such file"});
  EXPECT_FALSE(isDatasetFile(path));
}

TEST(DatasetErrorsTest, NotHdf5) {
  TempDir dir;
  const std::string path = dir.file("text.h5");
  testing::writeFile(path, "this is not HDF5\n");
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "not an HDF5 file"});
  EXPECT_FALSE(isDatasetFile(path));
}

TEST(DatasetErrorsTest, TruncatedFile) {
  TempDir dir;
  const std::string path = writeGood(dir.file("cut.h5"), 40);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "truncated"});
  EXPECT_FALSE(isDatasetFile(path));
}

TEST(DatasetErrorsTest, HdfFileThatIsNotAnAgreidDataset) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = dir.file("other.h5");
  ASSERT_EQ(testing::runPython("import h5py\nf = h5py.File('" + path +
                               "', 'w')\nf['x'] = [1, 2]\nf.close()\n"),
            0);
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "not an agreid dataset", "agreid_kind"});
  EXPECT_FALSE(isDatasetFile(path));
}

TEST(DatasetErrorsTest, MissingField) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "m.h5", "del f['samples/camid']");
  EXPECT_TRUE(isDatasetFile(path));
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "missing required field /samples/camid"});
  const std::string path2 = damaged(dir, "m2.h5", "del f['images']");
  expectOneLineInputError([&] { DatasetReader r(path2); },
                          {path2, "missing required field /images/offsets"});
  const std::string path3 = damaged(dir, "m3.h5", "del f.attrs['checksum']");
  expectOneLineInputError([&] { DatasetReader r(path3); },
                          {path3, "missing required root attribute 'checksum'"});
}

TEST(DatasetErrorsTest, WrongDtype) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(
      dir, "t.h5",
      "v = f['samples/pid'][()]\ndel f['samples/pid']\nf['samples/pid'] = v.astype(np.float32)");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/samples/pid", "float32", "expected int32"});
  const std::string path2 = damaged(dir, "t2.h5",
                                    "v = f['samples/split'][()]\ndel "
                                    "f['samples/split']\nf['samples/split'] = v.astype(np.int64)");
  expectOneLineInputError([&] { DatasetReader r(path2); },
                          {path2, "/samples/split", "int64", "expected uint8"});
}

TEST(DatasetErrorsTest, WrongShape) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path =
      damaged(dir, "s.h5",
              "v = f['samples/label'][()]\ndel f['samples/label']\nf['samples/label'] = v[:-1]");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/samples/label", "4 entries, expected 5"});
  const std::string path2 = damaged(
      dir, "s2.h5",
      "v = f['samples/camid'][()]\ndel f['samples/camid']\nf['samples/camid'] = v.reshape(5, 1)");
  expectOneLineInputError([&] { DatasetReader r(path2); },
                          {path2, "/samples/camid", "2 dimensions, expected 1"});
}

TEST(DatasetErrorsTest, NewerFormatVersion) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "v.h5", "f.attrs['format_version'] = np.int64(2)");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "format_version 2 is newer", "upgrade agreid"});
}

TEST(DatasetErrorsTest, InconsistentOffsets) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "o.h5", "o = f['images/offsets']\no[3] = o[2] - 1");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/images/offsets decreases at entry 3"});
  const std::string path2 = damaged(dir, "o2.h5", "o = f['images/offsets']\no[5] = o[5] - 1");
  expectOneLineInputError([&] { DatasetReader r(path2); },
                          {path2, "/images/offsets ends at", "bytes"});
  const std::string path3 = damaged(dir, "o3.h5", "f.attrs['num_samples'] = np.int64(7)");
  expectOneLineInputError([&] { DatasetReader r(path3); }, {path3, "num_samples is 7"});
  const std::string path4 = damaged(dir, "o4.h5", "f['samples/split'][2] = 9");
  expectOneLineInputError([&] { DatasetReader r(path4); }, {path4, "/samples/split[2] is 9"});
}

// A damaged header can claim more entries than the file holds; the reader refuses such a field
// before allocating for it (a vector of 2^40 elements would end the process, not name the file).
TEST(DatasetErrorsTest, FieldLargerThanTheFileIsRefused) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path =
      damaged(dir, "big.h5",
              "del f['samples/pid']\nf.create_dataset('samples/pid', shape=(2**40,), "
              "dtype='int32')\nf.attrs['num_samples'] = np.int64(2**40)");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "field /samples/pid claims 4398046511104 bytes, more than the", "corrupt header"});
  const std::string path2 =
      damaged(dir, "blob.h5",
              "del f['images/blob']\nf.create_dataset('images/blob', shape=(2**40,), "
              "dtype='uint8')\nf['images/offsets'][5] = 2**40");
  expectOneLineInputError([&] { DatasetReader r(path2); },
                          {path2, "field /images/blob claims 1099511627776 bytes"});
}

// A variable-length field whose stored type gives its elements 15 bytes, not the 16 of a heap
// reference (the field form of fuzzing finding 13, AttributeWithShortHeapReferencesIsRefused),
// made by hand: libhdf5 read the field without an error, each reference misread.
TEST(DatasetErrorsTest, FieldWithShortHeapReferencesIsRefused) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "short.h5", R"(name = f.filename
at = h5py.h5o.get_info(f['samples/path'].id).addr
f.close()
raw = bytearray(open(name, 'rb').read())
le = lambda o, n: int.from_bytes(raw[o:o + n], 'little')
assert raw[at] == 1, 'not a version-1 object header'
o, end = at + 16, at + 16 + le(at + 8, 4)
while o + 8 <= end and not (le(o, 2) == 3 and raw[o + 8] & 15 == 9):
    o += 8 + le(o + 2, 2)
assert o + 8 <= end, 'no variable-length datatype message'
raw[o + 12:o + 16] = (15).to_bytes(4, 'little')
open(name, 'wb').write(raw))");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/samples/path stores variable-length elements of 15 bytes",
                           "not the 16 bytes of a heap reference"});
}

// The other side of EmptyStringMissingFromTheGlobalHeapIsRefused: an empty string as HDF5 stores
// it (h5py, a heap object of 0 bytes) is read as "".
TEST(DatasetErrorsTest, EmptyStringAttributeIsRead) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "empty.h5", "f.attrs['source'] = ''");
  const DatasetReader reader(path);
  EXPECT_EQ(reader.info().source, "");
}

// A string attribute holding a list: libhdf5 writes every value into room for one (a stack
// overflow under ASan, silent otherwise). Refused before it is read.
TEST(DatasetErrorsTest, StringAttributeHoldingAListIsRefused) {
  if (!haveH5py()) GTEST_SKIP() << "Debian python3 with h5py not found";
  TempDir dir;
  const std::string path = damaged(dir, "list.h5", "f.attrs['source'] = ['one', 'two', 'three']");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "root attribute 'source' holds 3 values, expected one"});
  const std::string ints = damaged(dir, "ints.h5", "f.attrs['format_version'] = [1, 1]");
  expectOneLineInputError([&] { DatasetReader r(ints); },
                          {ints, "root attribute 'format_version' holds 2 values, expected one"});
}

TEST(DatasetErrorsTest, CorruptJpegInsideDatasetNamesIndexAndPath) {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  {
    DatasetWriter writer(path, WriterOptions{});
    SampleRecord good;
    good.jpeg = testing::tinyJpeg(8, 8, 1);
    good.path = "query/0001_c1s1_000001_00.jpg";
    writer.add(good);
    SampleRecord bad = good;
    bad.jpeg = {0xff, 0xd8, 0x00, 0x13, 0x37};
    bad.path = "query/0002_c2s1_000002_00.jpg";
    writer.add(bad);
    writer.finish();
  }
  DatasetReader reader(path);
  const auto ok = reader.readJpeg(0);
  EXPECT_NO_THROW(decodeJpeg(ok.data(), ok.size(), reader.sampleContext(0)));
  const auto bytes = reader.readJpeg(1);
  expectOneLineInputError([&] { decodeJpeg(bytes.data(), bytes.size(), reader.sampleContext(1)); },
                          {path, "sample 1", "query/0002_c2s1_000002_00.jpg", "not a valid JPEG"});
}

}  // namespace
}  // namespace agreid::data
