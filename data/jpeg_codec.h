// JPEG encode/decode through libjpeg-turbo's TurboJPEG API. Images are 8-bit RGB, row-major HWC.
// Thread-safe: each call uses its own TurboJPEG handle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::data {

struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
};

// Throws InputError("... <context>: not a valid JPEG: <reason>") on corrupt input; `context`
// names the sample (file, index, source path) for the message.
RgbImage decodeJpeg(const uint8_t* data, size_t size, const std::string& context);

// Reads only the header: height and width.
std::pair<int, int> jpegSize(const uint8_t* data, size_t size, const std::string& context);

// Encodes with 4:2:0 subsampling at `quality` (1..100).
std::vector<uint8_t> encodeJpeg(const RgbImage& image, int quality = 90);

}  // namespace agreid::data
