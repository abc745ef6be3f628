// Whole-file text I/O. Writing is atomic so that readers never see a partial file: write a
// temporary file beside the target, fsync it, rename it over the target, fsync the folder. Used for
// checkpoints, results, summaries and plots. Not collective; thread-compatible.
#pragma once

#include <string>

namespace agreid::trainer {

// A unique temporary path beside `path` (same folder, so the rename is atomic).
std::string tempPathFor(const std::string& path);

// fsync `tmp`, rename it to `path`, fsync the folder. Removes `tmp` and throws InputError naming
// the paths on failure.
void commitTempFile(const std::string& tmp, const std::string& path);

// Writes `data` to `path` atomically. Throws InputError naming the path on failure (the
// temporary file is removed).
void writeFileAtomically(const std::string& path, const std::string& data);

// The bytes of `path`; "" when it cannot be read.
std::string readFileText(const std::string& path);

}  // namespace agreid::trainer
