#include "data/hdf5_heap_guard.h"

#include <cstring>
#include <map>
#include <vector>

#include "base/check.h"

namespace agreid::data::h5 {
namespace {

// The layout of a collection with 8-byte lengths: "GCOL", version, 3 reserved bytes, the
// collection size (including this header), then objects of a 16-byte header (index u16,
// reference count u16, 4 reserved bytes, object size u64) followed by the object's data padded to
// 8 bytes. Index 0 is the free space, whose size already counts its header and is not padded.
constexpr size_t kObjectHeaderBytes = 16;

// HDF5 1.10 has no public call that returns a driver's class (H5Iobject_verify refuses library
// identifiers), but every open driver file carries it: sec2 opens /dev/null, which every POSIX
// system has, and the class is copied from that handle once.
const H5FD_class_t& sec2Class() {
  static const H5FD_class_t sec2 = [] {
    H5FD_class_t copy{};
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    const bool set = fapl >= 0 && H5Pset_fapl_sec2(fapl) >= 0;
    H5FD_t* probe = set ? H5FDopen("/dev/null", H5F_ACC_RDONLY, fapl, HADDR_UNDEF) : nullptr;
    if (probe != nullptr) {
      copy = *probe->cls;
      H5FDclose(probe);
    }
    if (fapl >= 0) H5Pclose(fapl);
    AGREID_CHECK(probe != nullptr, "cannot open /dev/null with HDF5's sec2 driver");
    return copy;
  }();
  return sec2;
}

// How far a read may run past the end of the file. sec2 fills the part of a read beyond the end
// of the file with zeros; libhdf5 reads past the end only by small amounts on intact files, but
// a damaged superblock or header can make it read gigabytes there (4 GiB from an 18 KB file, in
// H5C_protect under H5Fopen), which the zero-fill would turn into memory actually used.
constexpr uint64_t kReadPastEndSlack = uint64_t{1} << 16;

herr_t checkedRead(H5FD_t* file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                   void* buffer) {
  const H5FD_class_t& sec2 = sec2Class();
  const haddr_t end = sec2.get_eof(file, type);
  if (end != HADDR_UNDEF &&
      (addr > end + kReadPastEndSlack || size > end + kReadPastEndSlack - addr)) {
    return -1;
  }
  if (sec2.read(file, type, dxpl, addr, size, buffer) < 0) return -1;
  const auto* block = static_cast<const uint8_t*>(buffer);
  if (!globalHeapWalkEnds(block, size)) return -1;
  // libhdf5 reads a collection larger than its first read in two parts, the second without the
  // signature: check the whole collection now, when it fits in the file.
  const uint64_t collection = globalHeapCollectionSize(block, size);
  if (collection <= size || end == HADDR_UNDEF || addr > end || collection > end - addr) return 0;
  std::vector<uint8_t> whole(collection);
  if (sec2.read(file, type, dxpl, addr, collection, whole.data()) < 0) return -1;
  return walkGlobalHeapCollection(whole.data(), collection, nullptr) ? 0 : -1;
}

// sec2's features without the metadata accumulator. libhdf5 1.10.8's accumulator grows its
// buffer to the size a read asks for; when a damaged superblock asks for petabytes the realloc
// fails, the accumulator keeps a NULL buffer with its old extent, and the next metadata read that
// overlaps it copies from NULL (a SEGV in H5F__accum_read under H5Fopen, fuzz_dataset 2026-12-02,
// tests/data/corrupt/accumulator-null-buffer.h5). Without the feature every metadata read goes
// to checkedRead, which bounds it by the file's size; the metadata cache still keeps what it read.
herr_t queryWithoutAccumulator(const H5FD_t* file, unsigned long* flags) {
  const H5FD_class_t& sec2 = sec2Class();
  if (sec2.query != nullptr && sec2.query(file, flags) < 0) return -1;
  if (flags != nullptr) *flags &= ~static_cast<unsigned long>(H5FD_FEAT_ACCUMULATE_METADATA);
  return 0;
}

hid_t registerGuardedDriver() {
  H5FD_class_t guarded = sec2Class();
  guarded.name = "agreid_sec2_heap_guard";
  guarded.terminate = nullptr;  // sec2's own terminate runs for sec2
  guarded.read = &checkedRead;
  guarded.query = &queryWithoutAccumulator;
  const hid_t id = H5FDregister(&guarded);
  AGREID_CHECK(id >= 0, "H5FDregister of the guarded sec2 driver failed");
  return id;
}

}  // namespace

bool walkGlobalHeapCollection(const uint8_t* block, uint64_t collection,
                              std::map<uint64_t, uint64_t>* objects) {
  uint64_t at = kGlobalHeapHeaderBytes;
  while (at < collection) {
    if (collection - at < kObjectHeaderBytes) break;  // a tail too small for an object: free
    const uint64_t index = littleEndian(block + at, 2);
    const uint64_t object = littleEndian(block + at + 8, 8);
    uint64_t need = object;
    if (index > 0) {
      const uint64_t padded = object + 7;
      if (padded < object) return false;
      need = kObjectHeaderBytes + (padded & ~uint64_t{7});
      if (need < kObjectHeaderBytes) return false;
      if (objects != nullptr) (*objects)[index] = object;
    }
    if (need == 0 || need > collection - at) return false;
    at += need;
  }
  return true;
}

uint64_t globalHeapCollectionSize(const uint8_t* block, size_t size) {
  if (size < kGlobalHeapHeaderBytes || std::memcmp(block, "GCOL", 4) != 0 || block[4] != 1) {
    return 0;
  }
  return littleEndian(block + 8, 8);
}

bool globalHeapWalkEnds(const uint8_t* block, size_t size) {
  const uint64_t collection = globalHeapCollectionSize(block, size);
  return collection == 0 || collection > size ||
         walkGlobalHeapCollection(block, collection, nullptr);
}

hid_t guardedDriver() {
  static const hid_t id = registerGuardedDriver();
  return id;
}

}  // namespace agreid::data::h5
