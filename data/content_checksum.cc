#include "data/content_checksum.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

namespace agreid::data {
namespace {

constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

// Little-endian bytes of an integer, independent of the host byte order.
template <typename T>
void littleEndian(T value, uint8_t* out) {
  auto u = static_cast<std::make_unsigned_t<T>>(value);
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<uint8_t>(u >> (8 * i));
}

}  // namespace

void ContentChecksum::bytes(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = state_;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  state_ = h;
}

void ContentChecksum::u64(uint64_t v) {
  uint8_t b[8];
  littleEndian(v, b);
  bytes(b, 8);
}

void ContentChecksum::addSample(const uint8_t* jpeg, size_t jpeg_size, int32_t pid, int16_t camid,
                                uint8_t split, int32_t label, uint8_t occluded,
                                const std::string& path, const int32_t* attributes,
                                size_t num_attributes, const std::string* caption,
                                const float* visibility) {
  u64(jpeg_size);
  bytes(jpeg, jpeg_size);
  uint8_t meta[12];
  littleEndian(pid, meta);
  littleEndian(camid, meta + 4);
  meta[6] = split;
  littleEndian(label, meta + 7);
  meta[11] = occluded;
  bytes(meta, sizeof(meta));
  str(path);
  for (size_t a = 0; a < num_attributes; ++a) {
    uint8_t b[4];
    littleEndian(attributes[a], b);
    bytes(b, 4);
  }
  if (caption) str(*caption);
  if (visibility) {
    for (size_t a = 0; a < num_attributes; ++a) {
      uint32_t bits;
      std::memcpy(&bits, &visibility[a], 4);
      uint8_t b[4];
      littleEndian(bits, b);
      bytes(b, 4);
    }
  }
}

std::string ContentChecksum::finish(int64_t num_samples,
                                    const std::vector<std::string>& attribute_names,
                                    const std::vector<std::vector<std::string>>& attribute_values,
                                    bool has_captions, bool has_visibility) {
  u64(static_cast<uint64_t>(num_samples));
  u64(attribute_names.size());
  for (const auto& n : attribute_names) str(n);
  for (const auto& values : attribute_values) {
    u64(values.size());
    for (const auto& v : values) str(v);
  }
  const uint8_t captions = has_captions ? 1 : 0;
  bytes(&captions, 1);
  if (has_visibility) {  // files without visibility keep the checksum they always had
    const uint8_t visibility = 1;
    bytes(&visibility, 1);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(state_));
  return std::string("fnv1a64:") + hex;
}

}  // namespace agreid::data
