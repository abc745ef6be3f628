// Damaged dataset files found by fuzzing (tests/fuzz/, docs/testing.md), kept in
// tests/data/corrupt/: each is refused in one InputError line naming the file, without a crash, a
// hang or gigabytes of memory first.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <string>

#include "base/error.h"
#include "data/dataset.h"
#include "tests/data/data_test_util.h"

namespace agreid::data {
namespace {

using testing::expectOneLineInputError;

// The path of a kept input, tests/data/corrupt/<name>.
std::string corruptFile(const std::string& name) {
  return std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/" + name;
}

// The process's peak resident memory so far: a refused file must not have cost gigabytes first.
void expectPeakMemoryUnderOneGiB() {
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &usage), 0);
  EXPECT_LT(usage.ru_maxrss, 1024 * 1024) << "peak resident KiB";
}

// A fuzzing finding (tests/data/corrupt/): a damaged root attribute that libhdf5 finds but
// cannot read was an internal error; it is a one-line input error naming the file and attribute.
TEST(DatasetErrorsTest, UnreadableRootAttributeIsAnInputError) {
  const std::string path = corruptFile("unreadable-kind-attribute.h5");
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
  const std::string path = corruptFile("global-heap-loop.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "attribute 'agreid_kind' refers to a string the file's global heap", "corrupt file"});
}

// A fuzzing finding: a stored string length of 4 GiB made libhdf5 allocate and clear 4 GiB
// before reading the 18 KB file; the lengths are checked against the file first.
TEST(DatasetErrorsTest, StringLengthLargerThanTheFileIsRefused) {
  const std::string path = corruptFile("string-length-4gib.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/samples/path element 0 claims a 4294967295-byte string",
                           "more than the 18472-byte file holds"});
}

// A fuzzing finding: a damaged superblock made libhdf5 read 4 GiB from an 18 KB file, which
// HDF5's POSIX driver fills with zeros past the end of the file (4.3 GB of memory, 13 s); agreid's
// driver refuses reads that run far past the end, so the file fails to open at once.
TEST(DatasetErrorsTest, ReadFarPastTheEndOfTheFileIsRefused) {
  const std::string path = corruptFile("superblock-read-past-end.h5");
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "cannot open as HDF5"});
  expectPeakMemoryUnderOneGiB();
}

// A fuzzing finding (2026-12-02, after 467,595 executions): a damaged superblock for which
// libhdf5's metadata accumulator failed to grow to petabytes, kept a NULL buffer, and the next
// read copied from it (a SEGV in H5F__accum_read under H5Fopen). agreid's driver turns the
// accumulator off, so the read reaches its bounds check instead.
TEST(DatasetErrorsTest, AccumulatorNullBufferIsAnInputErrorNotACrash) {
  const std::string path = corruptFile("accumulator-null-buffer.h5");
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "cannot open as HDF5"});
  expectPeakMemoryUnderOneGiB();
}

// A fuzzing finding: a string attribute whose characters claim 1,818,361,857 bytes each (the base
// type's size field damaged) made libhdf5 allocate 1.8 GB per character while converting (16 GB,
// 30 s, for an 18 KB file); the attribute's stored type is checked first.
TEST(DatasetErrorsTest, StringAttributeWithHugeCharactersIsRefused) {
  const std::string path = corruptFile("string-attribute-huge-characters.h5");
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
  const std::string path = corruptFile("root-not-a-group-huge-characters.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "cannot read the header of the object that holds its attributes"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, fuzz_dataset-oom): the same damaged character size in the stored type of a
// string field, /attributes/value_names (4,294,967,041 bytes per character): libhdf5 asked for
// 12.9 GB while converting, out of memory for an 18 KB file. A field's datatype message is now
// checked like an attribute's.
TEST(DatasetErrorsTest, StringFieldWithHugeCharactersIsRefused) {
  const std::string path = corruptFile("string-field-huge-characters.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "/attributes/value_names stores elements of 4294967041 bytes",
                           "not the 1-byte characters of a string"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, a crash): a compact field, /attributes/names, whose header holds 0 bytes
// of values for its one element; libhdf5 copied the element from a null pointer (SEGV in
// H5VM_memcpyvv under H5Dread). Opening a field now checks a compact variable-length field too.
TEST(DatasetErrorsTest, CompactFieldWithoutItsValuesIsRefused) {
  const std::string path = corruptFile("compact-field-without-values.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "/attributes/names: stores 0 bytes in its header", "fewer than its 1 elements need"});
}

// The next (2026-12-02, a crash): the stored type of root attribute 'source' gives its elements 15
// bytes, not the 16 of a heap reference (length, collection address, object index); libhdf5 read
// the reference's last byte past the attribute's data and looked up a garbage object index (SEGV or
// heap-buffer-overflow in H5HG_read under H5Aread). A variable-length element's stored size is
// now checked, in attributes and fields.
TEST(DatasetErrorsTest, AttributeWithShortHeapReferencesIsRefused) {
  const std::string path = corruptFile("attribute-short-heap-reference.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "attribute 'source' stores variable-length elements of 15 bytes",
                           "not the 16 bytes of a heap reference"});
}

// The next (2026-12-02, out of memory after 180,085 executions): the same in a contiguous field,
// /attributes/names, whose layout message records 0 bytes for its one element; libhdf5 read the
// element from the bytes at its address anyway, a length of 4 GiB, and allocated 4 GiB in
// H5T__conv_vlen. Every compact or contiguous field's stored size is now compared with its
// elements.
TEST(DatasetErrorsTest, ContiguousFieldWithoutItsValuesIsRefused) {
  const std::string path = corruptFile("contiguous-field-without-values.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "field /attributes/names: stores 0 bytes, fewer than its 1 elements need"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, out of memory after 9,789 executions): the root's continuation message,
// which leads to the chunk that holds the attributes, declares a size of 0. The header walk took
// it for an ordinary message and never saw the attributes; libhdf5 decodes the continuation from
// its data whatever the size, read attribute 'checksum' and its 4 GiB length. The walk now
// follows a continuation as libhdf5 does.
TEST(DatasetErrorsTest, ContinuationOfSizeZeroIsFollowed) {
  const std::string path = corruptFile("continuation-of-size-zero.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path,
       "attribute 'checksum' claims a 4294967272-byte string, more than the 18472-byte file"});
  expectPeakMemoryUnderOneGiB();
}

// Found in the same run's corpus (an input that made libhdf5 allocate 1.6 GB, under the 4 GB
// limit, so not reported): the datatype size of attribute 'agreid_kind' reads 532 bytes instead of
// 20, which moves its dataspace and data past the end of its 72-byte message into the next
// messages. The header walk gave up on such a message; libhdf5 decodes it where the sizes say.
// A malformed attribute message is now refused.
TEST(DatasetErrorsTest, AttributeMessageWhosePartsDoNotFitIsRefused) {
  const std::string path = corruptFile("attribute-type-size-past-message.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "has a malformed attribute message"});
  expectPeakMemoryUnderOneGiB();
}

// The next (2026-12-02, a crash after 430,068 executions): root attribute 'checksum' stores an
// empty string (length 0) in an intact collection, with an object index of 655,360 that the
// collection does not hold. The check skipped the index of an empty string, but libhdf5 reads the
// object for it too (HDF5 stores "" as an object of 0 bytes) without bounding the index (SEGV in
// H5HG_read under H5Aread). Every non-null string's object must now be in its collection.
TEST(DatasetErrorsTest, EmptyStringMissingFromTheGlobalHeapIsRefused) {
  const std::string path = corruptFile("empty-string-missing-object.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path,
                           "attribute 'checksum' refers to a string the file's global heap "
                           "does not hold"});
}

// The next (2026-12-02, a crash after 295,265 executions): a chunked field whose layout message
// gives 0 chunk dimensions; libhdf5 divided by the missing chunk size when it opened the field
// (SIGFPE in H5D__chunk_set_info under H5Dopen2), before any check on the open field could run.
// The layout is read from the header before the field is opened.
TEST(DatasetErrorsTest, ChunkShapeWithoutDimensionsIsRefused) {
  const std::string path = corruptFile("chunk-shape-without-dimensions.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "field /images/blob has a chunk shape that does not fit its 1 dimensions"});
}

// A fuzzing finding: a stored string whose object index is not in its collection made libhdf5
// read through a null pointer (a crash); each stored string is looked up in its collection first.
TEST(DatasetErrorsTest, StringMissingFromTheGlobalHeapIsRefused) {
  const std::string path = corruptFile("missing-heap-object.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path,
                           "/attributes/names element 0 refers to a string the file's "
                           "global heap does not hold"});
}

// The same in a string attribute, which libhdf5 reads from the object header: agreid reads the
// header's attribute messages first.
TEST(DatasetErrorsTest, AttributeStringMissingFromTheGlobalHeapIsRefused) {
  const std::string path = corruptFile("missing-heap-object-attribute.h5");
  expectOneLineInputError([&] { DatasetReader r(path); },
                          {path, "attribute '", "refers to a string the file's global heap"});
}

// A fuzzing finding in that check itself: an object header chunk claimed to lie beyond the file
// was sized before it was bounded (std::length_error). It is left to libhdf5, which refuses it.
TEST(DatasetErrorsTest, HeaderChunkBeyondTheFileIsAnInputError) {
  const std::string path = corruptFile("header-chunk-beyond-file.h5");
  expectOneLineInputError([&] { DatasetReader r(path); }, {path, "corrupt"});
}

// The next finding: a collection larger than libhdf5's first read (4,145 bytes) whose walk never
// ends. libhdf5 reads such a collection in two parts, the second without the signature; the
// driver now checks the whole collection at the first part (GlobalHeapGuard.* test that on
// hand-built collections). This file's root symbol-table message is damaged too, so it is now
// refused before any attribute is read (AttributesOfAnUntypedRootAreRefused below).
TEST(DatasetErrorsTest, LargeLoopingCollectionIsRefused) {
  const std::string path = corruptFile("large-collection-loop.h5");
  expectOneLineInputError(
      [&] { DatasetReader r(path); },
      {path, "cannot read the header of the object that holds its attributes", "corrupt file"});
}

// A fuzzing finding: a string attribute whose type records a character set HDF5 does not know
// was an internal error (creating the memory type failed); it is read or refused as input.
TEST(DatasetErrorsTest, UnknownCharacterSetIsNotAnInternalError) {
  const std::string path = corruptFile("unknown-character-set.h5");
  try {
    DatasetReader r(path);
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace agreid::data
