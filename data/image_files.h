// Reading non-JPEG source images (TIFF via libtiff, PNG via libpng) so importers can re-encode
// them as JPEG (data/jpeg_codec.h). Occluded-REID ships .tif files.
//
// Thread-safe: no shared state (libtiff errors go to a per-call handler, not the global one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/jpeg_codec.h"

namespace agreid::data {

enum class ImageFormat { kJpeg, kTiff, kPng, kUnknown };

// From the leading magic bytes.
ImageFormat sniffImageFormat(const std::vector<uint8_t>& bytes);
const char* imageFormatName(ImageFormat format);

// Decode the first image of a file to 8-bit RGB. Throw InputError("<path>: not a valid
// TIFF|PNG: <reason>") on failure.
RgbImage readTiffFile(const std::string& path);
RgbImage readPngFile(const std::string& path);

}  // namespace agreid::data
