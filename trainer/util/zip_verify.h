// Integrity check of zip archives (LibTorch checkpoints, TorchScript CLIP weights). LibTorch's
// reader does not compare an entry's bytes with the CRC-32 its central directory records, so a
// flipped bit in a tensor loads silently; this check reads every entry once and compares.
#pragma once

#include <cstdint>
#include <string>

namespace agreid::trainer {

struct ZipSummary {
  int64_t entries = 0;     // files in the central directory
  int64_t data_bytes = 0;  // sum of their uncompressed sizes
};

// Verifies the archive at `path`: the end-of-central-directory record (zip64 included), each
// local header, and the CRC-32 of each entry (stored or deflated). Throws InputError naming the
// path and the first damaged entry. Not collective; reads the file sequentially once.
ZipSummary verifyZipArchive(const std::string& path);

}  // namespace agreid::trainer
