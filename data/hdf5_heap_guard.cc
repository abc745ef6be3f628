#include "data/hdf5_heap_guard.h"

#include <unistd.h>

#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/error.h"
#include "data/hdf5_util.h"

namespace agreid::data::h5 {
namespace {

// The layout of a collection with 8-byte lengths: "GCOL", version, 3 reserved bytes, the
// collection size (including this header), then objects of a 16-byte header (index u16,
// reference count u16, 4 reserved bytes, object size u64) followed by the object's data padded to
// 8 bytes. Index 0 is the free space, whose size already counts its header and is not padded.
constexpr size_t kHeaderBytes = 16;
constexpr size_t kObjectHeaderBytes = 16;

uint64_t littleEndian(const uint8_t* p, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

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

herr_t checkedRead(H5FD_t* file, H5FD_mem_t type, hid_t dxpl, haddr_t addr, size_t size,
                   void* buffer) {
  if (sec2Class().read(file, type, dxpl, addr, size, buffer) < 0) return -1;
  return globalHeapWalkEnds(static_cast<const uint8_t*>(buffer), size) ? 0 : -1;
}

hid_t registerGuardedDriver() {
  H5FD_class_t guarded = sec2Class();
  guarded.name = "agreid_sec2_heap_guard";
  guarded.terminate = nullptr;  // sec2's own terminate runs for sec2
  guarded.read = &checkedRead;
  const hid_t id = H5FDregister(&guarded);
  AGREID_CHECK(id >= 0, "H5FDregister of the guarded sec2 driver failed");
  return id;
}

// The raw elements of a variable-length field as stored: {address, bytes} of each extent.
struct Extent {
  haddr_t address;
  hsize_t bytes;
};

std::vector<Extent> rawExtents(hid_t dataset) {
  Handle plist(H5Dget_create_plist(dataset));
  if (!plist.valid()) return {};
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t address = H5Dget_offset(dataset);
    if (address == HADDR_UNDEF) return {};  // nothing stored yet
    return {{address, H5Dget_storage_size(dataset)}};
  }
  std::vector<Extent> extents;
  if (layout != H5D_CHUNKED || H5Pget_nfilters(plist.get()) != 0) return extents;
  hsize_t chunks = 0;
  if (H5Dget_num_chunks(dataset, H5S_ALL, &chunks) < 0) return extents;
  for (hsize_t i = 0; i < chunks; ++i) {
    hsize_t offset[H5S_MAX_RANK];
    unsigned filters = 0;
    haddr_t address = HADDR_UNDEF;
    hsize_t bytes = 0;
    if (H5Dget_chunk_info(dataset, H5S_ALL, i, offset, &filters, &address, &bytes) >= 0 &&
        address != HADDR_UNDEF) {
      extents.push_back({address, bytes});
    }
  }
  return extents;
}

}  // namespace

void checkStringLengths(hid_t dataset, const std::string& file_label, const std::string& path) {
  Handle file(H5Iget_file_id(dataset));
  Handle type(H5Dget_type(dataset));
  hsize_t file_bytes = 0;
  void* handle = nullptr;
  if (!file.valid() || !type.valid() || H5Fget_filesize(file.get(), &file_bytes) < 0 ||
      H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0 || handle == nullptr) {
    throw InputError(file_label + ": cannot read the layout of " + path + " (corrupt file?)");
  }
  const size_t element = H5Tget_size(type.get());  // 4 + address size + 4
  if (element < 8) return;
  const int fd = *static_cast<const int*>(handle);
  uint64_t total = 0;
  uint64_t index = 0;
  for (const Extent& extent : rawExtents(dataset)) {
    if (extent.bytes > file_bytes || extent.address > file_bytes - extent.bytes) {
      throw InputError(file_label + ": " + path + " is stored outside the " +
                       std::to_string(file_bytes) + "-byte file (corrupt header?)");
    }
    std::vector<uint8_t> raw(extent.bytes);
    if (::pread(fd, raw.data(), raw.size(), static_cast<off_t>(extent.address)) !=
        static_cast<ssize_t>(raw.size())) {
      throw InputError(file_label + ": cannot read " + path + " (corrupt file?)");
    }
    for (size_t at = 0; at + element <= raw.size(); at += element, ++index) {
      const uint64_t length = littleEndian(raw.data() + at, 4);
      total += length;
      if (length > file_bytes || total > file_bytes) {
        throw InputError(file_label + ": " + path + " element " + std::to_string(index) +
                         " claims a " + std::to_string(length) + "-byte string, more than the " +
                         std::to_string(file_bytes) + "-byte file holds (corrupt file?)");
      }
    }
  }
}

bool globalHeapWalkEnds(const uint8_t* block, size_t size) {
  if (size < kHeaderBytes || std::memcmp(block, "GCOL", 4) != 0 || block[4] != 1) return true;
  const uint64_t collection = littleEndian(block + 8, 8);
  if (collection > size) return true;
  uint64_t at = kHeaderBytes;
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
    }
    if (need == 0 || need > collection - at) return false;
    at += need;
  }
  return true;
}

hid_t guardedDriver() {
  static const hid_t id = registerGuardedDriver();
  return id;
}

}  // namespace agreid::data::h5
