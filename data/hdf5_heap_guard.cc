#include "data/hdf5_heap_guard.h"

#include <unistd.h>

#include <cstring>
#include <map>
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

// Walks the objects of the collection in block[0, collection) as libhdf5 does; false when the walk
// would not end inside it. Records each object's size by index in `objects` (when given).
bool walkCollection(const uint8_t* block, uint64_t collection,
                    std::map<uint64_t, uint64_t>* objects) {
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
      if (objects != nullptr) (*objects)[index] = object;
    }
    if (need == 0 || need > collection - at) return false;
    at += need;
  }
  return true;
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

void checkStoredStrings(hid_t dataset, const std::string& file_label, const std::string& path) {
  Handle file(H5Iget_file_id(dataset));
  Handle fcpl(file.valid() ? H5Fget_create_plist(file.get()) : H5I_INVALID_HID);
  size_t address_size = 0;
  hsize_t file_bytes = 0;
  void* handle = nullptr;
  if (!fcpl.valid() || H5Pget_sizes(fcpl.get(), &address_size, nullptr) < 0 ||
      H5Fget_filesize(file.get(), &file_bytes) < 0 ||
      H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0 || handle == nullptr) {
    throw InputError(file_label + ": cannot read the layout of " + path + " (corrupt file?)");
  }
  if (address_size == 0 || address_size > 8) return;
  // A stored element: its length (u32), the collection's address, the object's index (u32).
  const int address_bytes = static_cast<int>(address_size);
  const size_t element = 8 + address_size;
  const int fd = *static_cast<const int*>(handle);
  const auto readAt = [&](uint64_t address, uint64_t bytes, std::vector<uint8_t>* out) {
    out->resize(bytes);
    return bytes <= file_bytes && address <= file_bytes - bytes &&
           ::pread(fd, out->data(), bytes, static_cast<off_t>(address)) ==
               static_cast<ssize_t>(bytes);
  };
  // Each collection's objects, by address; an empty map marks a damaged collection.
  std::map<uint64_t, std::map<uint64_t, uint64_t>> collections;
  const auto objectsAt = [&](uint64_t address) -> const std::map<uint64_t, uint64_t>& {
    auto [it, inserted] = collections.try_emplace(address);
    std::vector<uint8_t> block;
    if (inserted && readAt(address, kHeaderBytes, &block) &&
        std::memcmp(block.data(), "GCOL", 4) == 0 && block[4] == 1) {
      const uint64_t bytes = littleEndian(block.data() + 8, 8);
      if (bytes >= kHeaderBytes && readAt(address, bytes, &block)) {
        if (!walkCollection(block.data(), bytes, &it->second)) it->second.clear();
      }
    }
    return it->second;
  };
  uint64_t total = 0;
  uint64_t index = 0;
  std::vector<uint8_t> raw;
  for (const Extent& extent : rawExtents(dataset)) {
    if (!readAt(extent.address, extent.bytes, &raw)) {
      throw InputError(file_label + ": " + path + " is stored outside the " +
                       std::to_string(file_bytes) + "-byte file (corrupt header?)");
    }
    for (size_t at = 0; at + element <= raw.size(); at += element, ++index) {
      const uint64_t length = littleEndian(raw.data() + at, 4);
      total += length;
      const std::string what = file_label + ": " + path + " element " + std::to_string(index);
      if (length > file_bytes || total > file_bytes) {
        throw InputError(what + " claims a " + std::to_string(length) +
                         "-byte string, more than the " + std::to_string(file_bytes) +
                         "-byte file holds (corrupt file?)");
      }
      if (length == 0) continue;  // libhdf5 reads nothing for an empty string
      const auto& objects = objectsAt(littleEndian(raw.data() + at + 4, address_bytes));
      const auto object = objects.find(littleEndian(raw.data() + at + 4 + address_bytes, 4));
      if (object == objects.end() || object->second != length) {
        throw InputError(what + " refers to a string the file's global heap does not hold " +
                         "(corrupt file?)");
      }
    }
  }
}

bool globalHeapWalkEnds(const uint8_t* block, size_t size) {
  if (size < kHeaderBytes || std::memcmp(block, "GCOL", 4) != 0 || block[4] != 1) return true;
  const uint64_t collection = littleEndian(block + 8, 8);
  return collection > size || walkCollection(block, collection, nullptr);
}

hid_t guardedDriver() {
  static const hid_t id = registerGuardedDriver();
  return id;
}

}  // namespace agreid::data::h5
