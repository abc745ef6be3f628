// The global heap check of the guarded HDF5 driver (data/hdf5_heap_guard.h) on hand-built
// collections; DatasetErrorsTest.DamagedGlobalHeapIsAnInputErrorNotAHang covers the driver on a
// damaged file, every other HDF5 test the driver on intact ones.
#include "data/hdf5_heap_guard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "data/hdf5_util.h"

namespace agreid::data::h5 {
namespace {

void put(std::vector<uint8_t>& block, size_t at, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) block[at + i] = static_cast<uint8_t>(value >> (8 * i));
}

// A 4,096-byte collection holding one 5-byte object (index 1) and the free space after it.
std::vector<uint8_t> collection() {
  std::vector<uint8_t> block(4096, 0);
  std::memcpy(block.data(), "GCOL", 4);
  block[4] = 1;
  put(block, 8, 4096, 8);
  put(block, 16, 1, 2);  // index
  put(block, 18, 1, 2);  // reference count
  put(block, 24, 5, 8);  // size
  put(block, 40, 0, 2);  // free space: index 0
  put(block, 48, 4096 - 40, 8);
  return block;
}

TEST(GlobalHeapGuard, IntactCollectionAndOtherBlocksPass) {
  const std::vector<uint8_t> block = collection();
  EXPECT_TRUE(globalHeapWalkEnds(block.data(), block.size()));
  const std::vector<uint8_t> jpeg = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I',
                                     'F',  0,    1,    1,    0, 0,  1,   0,   1};
  EXPECT_TRUE(globalHeapWalkEnds(jpeg.data(), jpeg.size()));
  // A first read shorter than the collection: libhdf5 reads it again whole, checked then.
  EXPECT_TRUE(globalHeapWalkEnds(block.data(), 1024));
}

TEST(GlobalHeapGuard, WalkThatStopsMovingIsRefused) {
  std::vector<uint8_t> block = collection();
  put(block, 48, 0, 8);  // free space of size 0: libhdf5 would walk in place for ever
  EXPECT_FALSE(globalHeapWalkEnds(block.data(), block.size()));
}

TEST(GlobalHeapGuard, SizeThatOverflowsOrLeavesTheCollectionIsRefused) {
  std::vector<uint8_t> wraps = collection();
  put(wraps, 24, ~uint64_t{0} - 3, 8);  // padding to 8 bytes wraps around
  EXPECT_FALSE(globalHeapWalkEnds(wraps.data(), wraps.size()));
  std::vector<uint8_t> wraps_total = collection();
  put(wraps_total, 24, ~uint64_t{0} - 15, 8);  // adding the object header wraps around
  EXPECT_FALSE(globalHeapWalkEnds(wraps_total.data(), wraps_total.size()));
  std::vector<uint8_t> past = collection();
  put(past, 24, 5000, 8);
  EXPECT_FALSE(globalHeapWalkEnds(past.data(), past.size()));
}

// Through libhdf5: the attribute read of tests/data/corrupt/global-heap-loop.h5 loads the damaged
// collection, and the guarded driver fails that read (without it, H5Aread never returns).
TEST(GlobalHeapGuard, DriverFailsTheReadOfALoopingCollection) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/global-heap-loop.h5";
  const ErrorSilencer quiet;
  Handle fapl = fileAccess(/*file_locking=*/false);
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  ASSERT_TRUE(file.valid());
  Handle attribute(H5Aopen(file.get(), "agreid_kind", H5P_DEFAULT));
  ASSERT_TRUE(attribute.valid());
  Handle type(H5Tcopy(H5T_C_S1));
  ASSERT_GE(H5Tset_size(type.get(), H5T_VARIABLE), 0);
  char* value = nullptr;
  EXPECT_LT(H5Aread(attribute.get(), type.get(), &value), 0);
  EXPECT_EQ(value, nullptr);
}

// A looping collection larger than libhdf5's first read of it (4,096 bytes), which libhdf5
// completes with a second read that does not start at the signature: the driver checks the whole
// collection at the first read. Root string attributes of the file refer to it.
TEST(GlobalHeapGuard, DriverChecksACollectionLargerThanTheFirstRead) {
  const std::string path =
      std::string(AGREID_SOURCE_DIR) + "/tests/data/corrupt/large-collection-loop.h5";
  const ErrorSilencer quiet;
  Handle fapl = fileAccess(/*file_locking=*/false);
  Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  ASSERT_TRUE(file.valid());
  Handle type(H5Tcopy(H5T_C_S1));
  ASSERT_GE(H5Tset_size(type.get(), H5T_VARIABLE), 0);
  int failed = 0;
  for (const char* name : {"agreid_kind", "dataset", "source", "checksum"}) {
    Handle attribute(H5Aopen(file.get(), name, H5P_DEFAULT));
    if (!attribute.valid()) continue;
    char* value = nullptr;
    if (H5Aread(attribute.get(), type.get(), &value) < 0) {
      ++failed;
    } else {
      H5free_memory(value);
    }
  }
  EXPECT_GT(failed, 0);
}

}  // namespace
}  // namespace agreid::data::h5
