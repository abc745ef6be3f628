// Helpers for the data tests: tiny generated JPEGs, fake dataset folder trees and checks of
// one-line InputError messages.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace agreid::testing {

// A small JPEG (height x width) filled with a gradient seeded by `seed`.
std::vector<uint8_t> tinyJpeg(int height, int width, uint8_t seed);

// Writes `bytes` to `path`, creating parent folders.
void writeBytes(const std::string& path, const std::vector<uint8_t>& bytes);
// Writes a tiny JPEG to `path` (parent folders created).
void writeJpegFile(const std::string& path, uint8_t seed = 0);

// Runs `fn`, expects agreid::InputError whose message is one line containing every `part`.
void expectOneLineInputError(const std::function<void()>& fn,
                             const std::vector<std::string>& parts);

// Runs Debian's python3 with `script` (h5py available); returns its exit code, printing its
// output on failure.
int runPython(const std::string& script);

}  // namespace agreid::testing
