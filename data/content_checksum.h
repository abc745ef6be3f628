// The content checksum of a dataset file (docs/data-format.md, "Checksum"): 64-bit FNV-1a over a
// canonical little-endian serialisation of every sample (image bytes and metadata), then the
// attribute names and value names. It does not depend on chunking, compression or the file's
// name, dataset name or source, so two imports of the same content agree.
//
// Not thread-safe; one hasher per computation. Private to the data library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::data {

class ContentChecksum {
 public:
  // Per sample, in file order. `attributes` has the file's attribute count (maybe 0);
  // `caption` is hashed only when the file has captions, `visibility` (num_attributes floats)
  // only when it has visibility.
  void addSample(const uint8_t* jpeg, size_t jpeg_size, int32_t pid, int16_t camid, uint8_t split,
                 int32_t label, uint8_t occluded, const std::string& path,
                 const int32_t* attributes, size_t num_attributes, const std::string* caption,
                 const float* visibility);
  // After the samples: the attribute schema and the sample count.
  std::string finish(int64_t num_samples, const std::vector<std::string>& attribute_names,
                     const std::vector<std::vector<std::string>>& attribute_values,
                     bool has_captions, bool has_visibility);

 private:
  void bytes(const void* data, size_t size);
  void u64(uint64_t v);
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }

  uint64_t state_ = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
};

}  // namespace agreid::data
