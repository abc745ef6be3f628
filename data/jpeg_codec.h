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

// The largest image agreid decodes (64 Mpx, e.g. 8192 x 8192; person crops are far smaller). A
// header claiming more is rejected before any pixel memory is allocated.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

// Throws InputError("<context>: not a valid JPEG: <reason>") on corrupt input -- libjpeg-turbo's
// warnings included (a file truncated mid-scan, corrupt entropy data), since their pixels are
// wrong -- and for a size over kMaxImagePixels. `context` names the sample (file, index, source
// path) for the message.
RgbImage decodeJpeg(const uint8_t* data, size_t size, const std::string& context);

// Reads only the header: height and width (0 x 0 for a file cut before its frame header). Throws
// like decodeJpeg for a corrupt header or a size over kMaxImagePixels.
std::pair<int, int> jpegSize(const uint8_t* data, size_t size, const std::string& context);

// Throws InputError("<context>: <format> image of H x W pixels exceeds ...") when height x width
// is over kMaxImagePixels.
void checkImageSize(int64_t height, int64_t width, const std::string& context,
                    const std::string& format);

// Encodes with 4:2:0 subsampling at `quality` (1..100).
std::vector<uint8_t> encodeJpeg(const RgbImage& image, int quality = 90);

}  // namespace agreid::data
