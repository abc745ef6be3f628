#include "data/hdf5_stored_strings.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "base/error.h"
#include "data/hdf5_heap_guard.h"
#include "data/hdf5_util.h"

namespace agreid::data::h5 {
namespace {

// Reads stored strings of one file and checks them against its global heap.
class StoredStrings {
 public:
  StoredStrings(hid_t object, const std::string& file_label) : file_label_(file_label) {
    Handle file(H5Iget_file_id(object));
    Handle fcpl(file.valid() ? H5Fget_create_plist(file.get()) : H5I_INVALID_HID);
    void* handle = nullptr;
    if (!fcpl.valid() || H5Pget_sizes(fcpl.get(), &address_bytes_, &length_bytes_) < 0 ||
        H5Fget_filesize(file.get(), &file_bytes_) < 0 ||
        H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle) < 0 || handle == nullptr) {
      throw InputError(file_label + ": cannot read its layout (corrupt file?)");
    }
    fd_ = *static_cast<const int*>(handle);
  }

  // False when HDF5's sizes are outside what these checks read (addresses of 1-8 bytes).
  bool usable() const {
    return address_bytes_ >= 1 && address_bytes_ <= 8 && length_bytes_ >= 1 && length_bytes_ <= 8;
  }
  int addressBytes() const { return static_cast<int>(address_bytes_); }
  int lengthBytes() const { return static_cast<int>(length_bytes_); }
  // A stored variable-length element: length (4 bytes), then the heap reference.
  uint64_t heapReferenceBytes() const { return 4 + address_bytes_ + 4; }
  uint64_t fileBytes() const { return file_bytes_; }

  bool read(uint64_t address, uint64_t bytes, std::vector<uint8_t>* out) const {
    if (bytes > file_bytes_ || address > file_bytes_ - bytes) return false;
    out->resize(bytes);
    return ::pread(fd_, out->data(), bytes, static_cast<off_t>(address)) ==
           static_cast<ssize_t>(bytes);
  }

  // Checks one stored string; `what` names it ("<file>: <field> element 3").
  void check(const uint8_t* element, const std::string& what) {
    const uint64_t length = littleEndian(element, 4);
    total_ += length;
    if (length > file_bytes_ || total_ > file_bytes_) {
      throw InputError(what + " claims a " + std::to_string(length) +
                       "-byte string, more than the " + std::to_string(file_bytes_) +
                       "-byte file holds (corrupt file?)");
    }
    const uint64_t address = littleEndian(element + 4, addressBytes());
    if (length == 0 && address == 0) return;  // a null string: libhdf5 reads no heap
    // libhdf5 reads the object even for an empty string (HDF5 stores "" as an object of 0
    // bytes), without bounding its index: the collection must be intact and hold the object.
    const auto& objects = objectsAt(address);
    const auto object = objects ? objects->find(littleEndian(element + 4 + address_bytes_, 4))
                                : std::map<uint64_t, uint64_t>::const_iterator();
    if (!objects || object == objects->end() || (length > 0 && object->second != length)) {
      throw InputError(what + " refers to a string the file's global heap does not hold " +
                       "(corrupt file?)");
    }
  }

 private:
  // The objects of the collection at `address` by index; nullopt for a damaged or missing one.
  const std::optional<std::map<uint64_t, uint64_t>>& objectsAt(uint64_t address) {
    auto [it, inserted] = collections_.try_emplace(address);
    std::vector<uint8_t> block;
    if (inserted && read(address, kGlobalHeapHeaderBytes, &block)) {
      const uint64_t bytes = globalHeapCollectionSize(block.data(), block.size());
      std::map<uint64_t, uint64_t> objects;
      if (bytes >= kGlobalHeapHeaderBytes && read(address, bytes, &block) &&
          walkGlobalHeapCollection(block.data(), bytes, &objects)) {
        it->second = std::move(objects);
      }
    }
    return it->second;
  }

  std::string file_label_;
  int fd_ = -1;
  size_t address_bytes_ = 0;
  size_t length_bytes_ = 0;
  hsize_t file_bytes_ = 0;
  uint64_t total_ = 0;
  std::map<uint64_t, std::optional<std::map<uint64_t, uint64_t>>> collections_;
};

// The raw extents {address, bytes} of a field stored contiguously or in unfiltered chunks.
std::vector<std::pair<haddr_t, hsize_t>> rawExtents(hid_t dataset) {
  Handle plist(H5Dget_create_plist(dataset));
  if (!plist.valid()) return {};
  const H5D_layout_t layout = H5Pget_layout(plist.get());
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t address = H5Dget_offset(dataset);
    if (address == HADDR_UNDEF) return {};  // nothing stored yet
    return {{address, H5Dget_storage_size(dataset)}};
  }
  std::vector<std::pair<haddr_t, hsize_t>> extents;
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
      extents.emplace_back(address, bytes);
    }
  }
  return extents;
}

constexpr uint64_t kPad8 = 7;
uint64_t padTo8(uint64_t n) { return (n + kPad8) & ~kPad8; }

struct VariableLengthAttribute {
  uint64_t offset = 0;     // of the data in the message; 0: not variable-length, or malformed
  bool malformed = false;  // its parts do not fit in the message
  std::string name;
  bool string = false;         // a variable-length string (not a sequence)
  uint64_t stored_bytes = 0;   // size of one stored element (the datatype message's size)
  uint64_t element_bytes = 0;  // size of one element of the base type (1 for a string's chars)
};

// The data of one attribute message (`message`, `size` bytes) when its type is variable-length.
// A variable-length datatype message: class and version (1 byte), class bits (3), size (4), then
// the base type's message, whose size is at the same place. libhdf5 decodes the name, datatype
// and dataspace where their declared sizes place them, past the end of the message too: a
// message whose parts do not fit is malformed (a damaged datatype size moved the dataspace and
// the data of a string attribute into the next messages, and libhdf5 read a 1.6 GB length there).
VariableLengthAttribute variableLengthData(const uint8_t* message, uint64_t size) {
  VariableLengthAttribute malformed;
  malformed.malformed = true;
  if (size < 8) return malformed;
  const int version = message[0];
  const uint64_t name = littleEndian(message + 2, 2);
  const uint64_t type = littleEndian(message + 4, 2);
  const uint64_t space = littleEndian(message + 6, 2);
  uint64_t at = version == 3 ? 9 : 8;
  if (version < 1 || version > 3) return {};  // libhdf5 refuses the version itself
  const uint64_t name_at = at;
  at += version == 1 ? padTo8(name) : name;
  const uint64_t type_at = at;
  at += version == 1 ? padTo8(type) : type;
  at += version == 1 ? padTo8(space) : space;
  if (at > size || type == 0 || type_at >= size || name_at + name > size) return malformed;
  const int type_class = message[type_at] & 0x0f;
  if (type_class != H5T_VLEN) return {};
  if (type < 16 || type_at + 16 > size) return malformed;
  const char* text = reinterpret_cast<const char*>(message + name_at);
  return {at,
          false,
          std::string(text, strnlen(text, name)),
          (message[type_at + 1] & 0x0f) == 1,
          littleEndian(message + type_at + 4, 4),
          littleEndian(message + type_at + 12, 4)};
}

// Calls visit(type, shared, data, size) for each message of the object header at `address`.
// Reads version-1 headers (version, reserved, message count (u16), reference count (u32), size of
// the first chunk (u32), 4 bytes of padding; then the chunk; continuation messages name further
// chunks; a message: type (u16), size (u16), flags, 3 reserved bytes, data). Other versions are
// left to libhdf5.
template <typename Visit>
void forEachHeaderMessageAt(haddr_t address, StoredStrings& strings, Visit visit) {
  std::vector<uint8_t> prefix;
  if (!strings.read(address, 16, &prefix) || prefix[0] != 1) return;
  std::vector<std::pair<uint64_t, uint64_t>> chunks = {{address + 16, littleEndian(&prefix[8], 4)}};
  constexpr size_t kMaxChunks = 1024;  // a cycle of continuations is corrupt
  std::vector<uint8_t> chunk;
  for (size_t c = 0; c < chunks.size() && c < kMaxChunks; ++c) {
    if (!strings.read(chunks[c].first, chunks[c].second, &chunk)) return;  // libhdf5 reports it
    for (uint64_t at = 0; at + 8 <= chunk.size();) {
      const uint64_t type = littleEndian(&chunk[at], 2);
      const uint64_t size = littleEndian(&chunk[at + 2], 2);
      const bool shared = (chunk[at + 4] & 0x02) != 0;
      if (size > chunk.size() - at - 8) break;
      const uint8_t* data = &chunk[at + 8];
      // libhdf5 decodes a continuation's address and length whatever size the message declares
      // (a damaged size of 0 still leads it to the next chunk): so does this walk.
      const uint64_t continuation = strings.addressBytes() + strings.lengthBytes();
      if (type == 0x10) {
        if (continuation <= chunk.size() - at - 8) {
          chunks.emplace_back(littleEndian(data, strings.addressBytes()),
                              littleEndian(data + strings.addressBytes(), strings.lengthBytes()));
        }
      } else {
        visit(type, shared, data, size);
      }
      at += 8 + size;
    }
  }
}

// The same for an open object. An object whose header libhdf5 cannot describe throws
// `unreadable`: libhdf5 still reads from it (an attribute of a root whose damaged symbol-table
// message makes it "not a group").
template <typename Visit>
void forEachHeaderMessage(hid_t object, StoredStrings& strings, const std::string& unreadable,
                          Visit visit) {
  H5O_info_t info;
  if (H5Oget_info2(object, &info, H5O_INFO_BASIC) < 0) throw InputError(unreadable);
  forEachHeaderMessageAt(info.addr, strings, visit);
}

// A string's characters are single bytes; libhdf5 allocates (length x character size) per
// element while it converts, before it reads anything.
void checkCharacterBytes(uint64_t bytes, const std::string& what) {
  if (bytes != 1) {
    throw InputError(what + " stores elements of " + std::to_string(bytes) +
                     " bytes, not the 1-byte characters of a string (corrupt file?)");
  }
}

// libhdf5 reads each stored element as a heap reference wherever the datatype says it ends; a
// size that differs reads part of the reference from the next element or past the buffer.
void checkStoredElementBytes(uint64_t bytes, const StoredStrings& strings,
                             const std::string& what) {
  if (bytes != strings.heapReferenceBytes()) {
    throw InputError(what + " stores variable-length elements of " + std::to_string(bytes) +
                     " bytes, not the " + std::to_string(strings.heapReferenceBytes()) +
                     " bytes of a heap reference (corrupt file?)");
  }
}

// The stored type of a variable-length field: a datatype message (0x03) with class and version,
// class bits (the low 4 of the first: 1 for a string), size (4 bytes), then the base type, whose
// size is at byte 12.
void checkStoredFieldType(hid_t dataset, StoredStrings& strings, const std::string& what) {
  forEachHeaderMessage(dataset, strings, what + ": cannot read its header (corrupt file?)",
                       [&](uint64_t type, bool shared, const uint8_t* data, uint64_t size) {
                         if (type != 0x03 || shared || size < 16) return;
                         if ((data[0] & 0x0f) != H5T_VLEN) return;
                         checkStoredElementBytes(littleEndian(data + 4, 4), strings, what);
                         if ((data[1] & 0x0f) == 1) {
                           checkCharacterBytes(littleEndian(data + 12, 4), what);
                         }
                       });
}

}  // namespace

void checkStoredStrings(hid_t dataset, const std::string& file_label, const std::string& path) {
  StoredStrings strings(dataset, file_label);
  if (!strings.usable()) return;
  checkStoredFieldType(dataset, strings, file_label + ": " + path);
  const size_t element = strings.heapReferenceBytes();
  uint64_t index = 0;
  std::vector<uint8_t> raw;
  for (const auto& [address, bytes] : rawExtents(dataset)) {
    if (!strings.read(address, bytes, &raw)) {
      throw InputError(file_label + ": " + path + " is stored outside the " +
                       std::to_string(strings.fileBytes()) + "-byte file (corrupt header?)");
    }
    for (size_t at = 0; at + element <= raw.size(); at += element, ++index) {
      strings.check(raw.data() + at,
                    file_label + ": " + path + " element " + std::to_string(index));
    }
  }
}

void checkStoredAttributeStrings(hid_t object, const std::string& file_label) {
  StoredStrings strings(object, file_label);
  if (!strings.usable()) return;
  const std::string unreadable =
      file_label +
      ": cannot read the header of the object that holds its attributes (corrupt file?)";
  forEachHeaderMessage(object, strings, unreadable,
                       [&](uint64_t type, bool shared, const uint8_t* data, uint64_t size) {
                         if (type != 0x0c || shared) return;
                         const VariableLengthAttribute vlen = variableLengthData(data, size);
                         if (vlen.malformed) {
                           throw InputError(file_label + ": the header that holds its attributes " +
                                            "has a malformed attribute message (corrupt file?)");
                         }
                         if (vlen.offset == 0) return;
                         const std::string what = file_label + ": attribute '" + vlen.name + "'";
                         checkStoredElementBytes(vlen.stored_bytes, strings, what);
                         if (vlen.string) checkCharacterBytes(vlen.element_bytes, what);
                         for (uint64_t e = vlen.offset; e + strings.heapReferenceBytes() <= size;
                              e += strings.heapReferenceBytes()) {
                           strings.check(data + e, what);
                         }
                       });
}

void checkChunkShape(hid_t file, const std::string& path, const std::string& what) {
  H5O_info_t info;
  if (H5Oget_info_by_name2(file, path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return;
  StoredStrings strings(file, what);
  if (!strings.usable()) return;
  int rank = -1;
  std::vector<uint64_t> chunk;  // chunk dimensions (the last: the element size), when chunked
  bool chunked = false;
  const int address_bytes = strings.addressBytes();
  forEachHeaderMessageAt(
      info.addr, strings, [&](uint64_t type, bool shared, const uint8_t* data, uint64_t size) {
        if (shared || size < 2) return;
        if (type == 0x01) rank = data[1];  // dataspace: version, rank, ...
        if (type != 0x08) return;          // layout
        const int version = data[0];
        uint64_t at = 0, count = 0, bytes = 4;
        if (version == 1 || version == 2) {
          if (size < 8 || data[2] != H5D_CHUNKED) return;
          count = data[1], at = 8 + address_bytes;
        } else if (version == 3) {
          if (data[1] != H5D_CHUNKED || size < 3) return;
          count = data[2], at = 3 + address_bytes;
        } else if (version == 4) {
          if (data[1] != H5D_CHUNKED || size < 5) return;
          count = data[3], bytes = data[4], at = 5;
        } else {
          return;
        }
        chunked = true;
        for (uint64_t d = 0; d < count && bytes >= 1 && bytes <= 8 && at + bytes <= size;
             ++d, at += bytes) {
          chunk.push_back(littleEndian(data + at, static_cast<int>(bytes)));
        }
        if (chunk.size() != count) chunk.clear();  // cut short: refused below
      });
  if (!chunked) return;
  const bool zero = std::find(chunk.begin(), chunk.end(), 0) != chunk.end();
  if (rank < 0 || chunk.size() != static_cast<size_t>(rank) + 1 || zero) {
    throw InputError(what + " has a chunk shape that does not fit its " +
                     (rank < 0 ? std::string("unreadable") : std::to_string(rank)) +
                     " dimensions (corrupt file?)");
  }
}

}  // namespace agreid::data::h5
