#include "data/jpeg_codec.h"

#include <turbojpeg.h>

#include <memory>

#include "base/check.h"
#include "base/error.h"

namespace agreid::data {
namespace {

struct HandleDeleter {
  void operator()(void* h) const { tjDestroy(h); }
};
using Handle = std::unique_ptr<void, HandleDeleter>;

Handle makeDecompressor() {
  Handle h(tjInitDecompress());
  AGREID_CHECK(h != nullptr, "tjInitDecompress failed");
  return h;
}

// Reads the header into (height, width); throws naming `context` for a corrupt header or an
// image too large to decode.
std::pair<int, int> readHeader(void* h, const uint8_t* data, size_t size,
                               const std::string& context) {
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (size == 0 || tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &width, &height,
                                       &subsamp, &colorspace) != 0) {
    throw InputError(context + ": not a valid JPEG: " +
                     (size == 0 ? std::string("empty") : std::string(tjGetErrorStr2(h))));
  }
  checkImageSize(height, width, context, "JPEG");
  return {height, width};
}

}  // namespace

void checkImageSize(int64_t height, int64_t width, const std::string& context,
                    const std::string& format) {
  if (height * width <= kMaxImagePixels) return;
  throw InputError(context + ": " + format + " image of " + std::to_string(height) + " x " +
                   std::to_string(width) + " pixels exceeds the limit of " +
                   std::to_string(kMaxImagePixels) + " pixels (corrupt header?)");
}

std::pair<int, int> jpegSize(const uint8_t* data, size_t size, const std::string& context) {
  Handle h = makeDecompressor();
  return readHeader(h.get(), data, size, context);
}

RgbImage decodeJpeg(const uint8_t* data, size_t size, const std::string& context) {
  Handle h = makeDecompressor();
  const auto [height, width] = readHeader(h.get(), data, size, context);
  if (height <= 0 || width <= 0) {
    throw InputError(context + ": not a valid JPEG: no frame header (truncated?)");
  }
  RgbImage img;
  img.height = height;
  img.width = width;
  img.pixels.resize(static_cast<size_t>(width) * height * 3);
  // A warning (premature end of data, corrupt entropy data) means wrong pixels: stop and reject.
  if (tjDecompress2(h.get(), data, static_cast<unsigned long>(size), img.pixels.data(), width, 0,
                    height, TJPF_RGB, TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0) {
    throw InputError(context + ": not a valid JPEG: " + std::string(tjGetErrorStr2(h.get())));
  }
  return img;
}

std::vector<uint8_t> encodeJpeg(const RgbImage& image, int quality) {
  AGREID_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3,
               "RGB buffer size does not match ", image.height, "x", image.width);
  Handle h(tjInitCompress());
  AGREID_CHECK(h != nullptr, "tjInitCompress failed");
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  int rc = tjCompress2(h.get(), image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &out,
                       &out_size, TJSAMP_420, quality, TJFLAG_ACCURATEDCT);
  AGREID_CHECK(rc == 0, "tjCompress2 failed: ", tjGetErrorStr2(h.get()));
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

}  // namespace agreid::data
