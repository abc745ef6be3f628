// Bad dataset files: each failure is one InputError line naming the file and what is wrong.
// Damaged files are made from a good one with h5py (Debian's python3).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>

#include "base/error.h"
#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_support.h"

namespace agreid::data {
namespace {

// The process's peak resident memory so far: a refused file must not have cost gigabytes first.
void expectPeakMemoryUnderOneGiB() {
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &usage), 0);
  EXPECT_LT(usage.ru_maxrss, 1024 * 1024) << "peak resident KiB";
}

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

// A fuzzing finding (tests/data/corrupt/): a damaged root attribute that libhdf5 finds but
// cannot read was an internal error; it is a one-line input error naming the file and attribute.
TEST(DatasetErrorsTest, UnreadableRootAttributeIsAnInputError) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/unreadable-kind-attribute.h5";
  // (Its damage is now found when the attribute's string is looked up in the global heap,
  // before libhdf5 reads it; a read failure of libhdf5 gives "cannot read root attribute".)
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "attribute 'agreid_kind'", "corrupt file"});
}

// A fuzzing finding (tests/data/corrupt/): a global heap collection whose object list never ends
// made libhdf5 1.10.8 loop for ever inside H5Aread. The attribute's string is looked up in the
// collection first (data/hdf5_stored_strings.h);
// GlobalHeapGuard.DriverFailsTheReadOfALoopingCollection shows the driver's own check on the same
// file.
TEST(DatasetErrorsTest, DamagedGlobalHeapIsAnInputErrorNotAHang) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/global-heap-loop.h5";
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "attribute 'agreid_kind' refers to a string the file's global heap", "corrupt file"});
}

// A fuzzing finding: a stored string length of 4 GiB made libhdf5 allocate and clear 4 GiB
// before reading the 18 KB file; the lengths are checked against the file first.
TEST(DatasetErrorsTest, StringLengthLargerThanTheFileIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/string-length-4gib.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/samples/path element 0 claims a 4294967295-byte string",
                           "more than the 18472-byte file holds"});
}

// A fuzzing finding: a damaged superblock made libhdf5 read 4 GiB from an 18 KB file, which
// HDF5's POSIX driver fills with zeros past the end of the file (4.3 GB of memory, 13 s); agreid's
// driver refuses reads that run far past the end, so the file fails to open at once.
TEST(DatasetErrorsTest, ReadFarPastTheEndOfTheFileIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/superblock-read-past-end.h5";
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "cannot open as HDF5"});
  expectPeakMemoryUnderOneGiB();
}

// A fuzzing finding (2026-12-02, after 467,595 executions): a damaged superblock for which
// libhdf5's metadata accumulator failed to grow to petabytes, kept a NULL buffer, and the next
// read copied from it (a SEGV in H5F__accum_read under H5Fopen). agreid's driver turns the
// accumulator off, so the read reaches its bounds check instead.
TEST(DatasetErrorsTest, AccumulatorNullBufferIsAnInputErrorNotACrash) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/accumulator-null-buffer.h5";
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "cannot open as HDF5"});
  expectPeakMemoryUnderOneGiB();
}

// A fuzzing finding: a string attribute whose characters claim 1,818,361,857 bytes each (the base
// type's size field damaged) made libhdf5 allocate 1.8 GB per character while converting (16 GB,
// 30 s, for an 18 KB file); the attribute's stored type is checked first.
TEST(DatasetErrorsTest, StringAttributeWithHugeCharactersIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/string-attribute-huge-characters.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "attribute 'dataset' stores elements of 1818361857 bytes",
                           "not the 1-byte characters of a string"});
  expectPeakMemoryUnderOneGiB();
}

// A fuzzing finding (2026-12-02): the same damaged character size in 'agreid_kind', in a file whose
// root symbol-table message is also damaged, so that libhdf5 cannot tell the root's object type
// and the header walk that checks the attribute's stored type was skipped; libhdf5 still read the
// attribute (1.6 GB cleared for 7 characters, 29 s under ASan, for an 18 KB file).
TEST(DatasetErrorsTest, AttributesOfAnUntypedRootAreRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/root-not-a-group-huge-characters.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "cannot read the header of the object that holds its attributes"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, fuzz_dataset-oom): the same damaged character size in the stored type of a
// string field, /attributes/value_names (4,294,967,041 bytes per character): libhdf5 asked for
// 12.9 GB while converting, out of memory for an 18 KB file. A field's datatype message is now
// checked like an attribute's.
TEST(DatasetErrorsTest, StringFieldWithHugeCharactersIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/string-field-huge-characters.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/attributes/value_names stores elements of 4294967041 bytes",
                           "not the 1-byte characters of a string"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, a crash): a compact field, /attributes/names, whose header holds 0 bytes
// of values for its one element; libhdf5 copied the element from a null pointer (SEGV in
// H5VM_memcpyvv under H5Dread). Opening a field now checks a compact variable-length field too.
TEST(DatasetErrorsTest, CompactFieldWithoutItsValuesIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/compact-field-without-values.h5";
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "/attributes/names: stores 0 bytes in its header", "fewer than its 1 elements need"});
}

// A fuzzing finding: a stored string whose object index is not in its collection made libhdf5
// read through a null pointer (a crash); each stored string is looked up in its collection first.
TEST(DatasetErrorsTest, StringMissingFromTheGlobalHeapIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/missing-heap-object.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path,
                           "/attributes/names element 0 refers to a string the file's "
                           "global heap does not hold"});
}

// The same in a string attribute, which libhdf5 reads from the object header: agreid reads the
// header's attribute messages first.
TEST(DatasetErrorsTest, AttributeStringMissingFromTheGlobalHeapIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/missing-heap-object-attribute.h5";
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "attribute '", "refers to a string the file's global heap"});
}

// A fuzzing finding in that check itself: an object header chunk claimed to lie beyond the file
// was sized before it was bounded (std::length_error). It is left to libhdf5, which refuses it.
TEST(DatasetErrorsTest, HeaderChunkBeyondTheFileIsAnInputError) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/header-chunk-beyond-file.h5";
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "corrupt"});
}

// The next finding: a collection larger than libhdf5's first read (4,145 bytes) whose walk never
// ends. libhdf5 reads such a collection in two parts, the second without the signature; the
// driver now checks the whole collection at the first part (GlobalHeapGuard.* test that on
// hand-built collections). This file's root symbol-table message is damaged too, so it is now
// refused before any attribute is read (AttributesOfAnUntypedRootAreRefused below).
TEST(DatasetErrorsTest, LargeLoopingCollectionIsRefused) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/large-collection-loop.h5";
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "cannot read the header of the object that holds its attributes", "corrupt file"});
}

// A fuzzing finding: a string attribute whose type records a character set HDF5 does not know
// was an internal error (creating the memory type failed); it is read or refused as input.
TEST(DatasetErrorsTest, UnknownCharacterSetIsNotAnInternalError) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/unknown-character-set.h5";
  try {
    DatasetReader r(path);
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
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
