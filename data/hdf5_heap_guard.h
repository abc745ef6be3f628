// A guard between libhdf5 and the file for damaged global heap collections.
//
// Variable-length strings (dataset paths, attribute names, string attributes) live in HDF5's
// global heap: collections that start with "GCOL" and list their objects one after another.
// libhdf5 1.10 walks a collection's object list when it loads it, and a damaged size field (an
// object of size 0, or a size that wraps the walk) makes that walk loop forever, inside H5Aread
// or H5Dread, where nothing can interrupt it (tests/data/corrupt/global-heap-loop.h5, found by
// fuzzing). agreid therefore opens HDF5 files through a copy of HDF5's default POSIX driver (sec2)
// whose read checks every block that starts like a collection: if walking its objects would not
// end inside the collection, the read fails, and libhdf5 reports the attribute or field as
// unreadable (a one-line InputError from data/hdf5_util.h) instead of hanging.
//
// The same read also refuses a read that runs more than 64 KiB past the end of the file: sec2
// fills that part with zeros, and a damaged superblock or header can ask for gigabytes there
// (tests/data/corrupt/superblock-read-past-end.h5: 4 GiB from an 18 KB file).
//
// The driver also leaves libhdf5's metadata accumulator off (a NULL-buffer crash inside
// libhdf5 on damaged superblocks; hdf5_heap_guard.cc), so that every read reaches the checks.
//
// The check reads lengths as 8 bytes (HDF5's default "size of lengths", the one agreid and h5py
// write); a block read whole as a collection costs one walk over its object headers.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <map>

namespace agreid::data::h5 {

// The registered driver: HDF5's sec2 with the checked read. Registered on first use.
hid_t guardedDriver();

// False when `block` starts with a global heap collection signature (version 1) whose declared
// size fits in `size` bytes and whose object list libhdf5 could not walk to the end of the
// collection: an object of size 0 (the walk stops moving), a size that overflows, or an object
// that reaches past the collection. True for anything else, including blocks that are not
// collections and collections larger than `size` (libhdf5 reads those again whole).
bool globalHeapWalkEnds(const uint8_t* block, size_t size);

// The size of a collection's header ("GCOL", version, 3 reserved bytes, 8-byte size).
constexpr size_t kGlobalHeapHeaderBytes = 16;

// The declared size of the collection `block` starts with ("GCOL", version 1, 8-byte size), or 0
// when the first `size` bytes are not a collection's header.
uint64_t globalHeapCollectionSize(const uint8_t* block, size_t size);

// Walks the objects of the collection in block[0, collection) as libhdf5 does; false when the walk
// would not end inside it. Records each object's size by index in `objects` (when not null).
bool walkGlobalHeapCollection(const uint8_t* block, uint64_t collection,
                              std::map<uint64_t, uint64_t>* objects);

// Little-endian unsigned integer of `bytes` (1-8) bytes.
inline uint64_t littleEndian(const uint8_t* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

}  // namespace agreid::data::h5
