// Integrity check of LibTorch's zip archives (checkpoints, TorchScript CLIP weights, torch.save
// files). LibTorch's reader does not compare an entry's bytes with the CRC-32 its central
// directory records, so a flipped bit in a tensor loads silently; this check reads every entry
// once and compares. It also refuses the archives LibTorch's reader would refuse in a way that
// leaks (Note [LibTorch archive layout] in zip_verify.cc), so run it before LibTorch opens one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

struct ZipSummary {
  int64_t entries = 0;             // files in the central directory
  int64_t data_bytes = 0;          // sum of their uncompressed sizes
  std::vector<std::string> names;  // entry names, in directory order
  std::string folder;              // the folder of the first entry, lower case, with its '/'

  // Whether `record` exists in `folder`, compared without regard to case (as LibTorch does).
  bool hasRecord(const std::string& record) const;
};

// Verifies the archive at `path`: the end-of-central-directory record (zip64 included), each
// local header, the CRC-32 of each entry (stored or deflated), and LibTorch's layout (the first
// entry in a folder, names unique without regard to case, a supported version record). Throws
// InputError naming the path and the first damaged entry. Not collective; reads the file
// sequentially once.
ZipSummary verifyZipArchive(const std::string& path);

}  // namespace agreid::trainer
