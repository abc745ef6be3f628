#include "data/image_files.h"

#include <png.h>
#include <tiffio.h>

#include <cstdarg>
#include <cstdio>
#include <memory>

#include "base/error.h"

namespace agreid::data {
namespace {

// Collects libtiff's error text for this call only.
int tiffErrorHandler(TIFF*, void* user_data, const char*, const char* fmt, va_list ap) {
  char buf[256];
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  auto* message = static_cast<std::string*>(user_data);
  if (message->empty()) *message = buf;
  return 1;  // handled: libtiff does not print it
}

int tiffWarningHandler(TIFF*, void*, const char*, const char*, va_list) {
  return 1;  // ignore warnings (unknown tags etc.)
}

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};

}  // namespace

ImageFormat sniffImageFormat(const std::vector<uint8_t>& b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::kJpeg;
  if (b.size() >= 4 && ((b[0] == 'I' && b[1] == 'I' && b[2] == 42 && b[3] == 0) ||
                        (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42))) {
    return ImageFormat::kTiff;
  }
  if (b.size() >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    return ImageFormat::kPng;
  }
  return ImageFormat::kUnknown;
}

const char* imageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

RgbImage readTiffFile(const std::string& path) {
  std::string message;
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, &tiffErrorHandler, &message);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, &tiffWarningHandler, nullptr);
  std::unique_ptr<TIFF, TiffCloser> tif(TIFFOpenExt(path.c_str(), "r", opts));
  TIFFOpenOptionsFree(opts);
  auto fail = [&](const std::string& what) {
    return InputError(path + ": not a valid TIFF: " + (message.empty() ? what : message));
  };
  if (!tif) throw fail("cannot open");
  uint32_t width = 0, height = 0;
  TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &height);
  if (width == 0 || height == 0 || width > 65535 || height > 65535) {
    throw fail("bad size " + std::to_string(height) + "x" + std::to_string(width));
  }
  checkImageSize(height, width, path, "TIFF");
  std::vector<uint32_t> raster(static_cast<size_t>(width) * height);
  if (!TIFFReadRGBAImageOriented(tif.get(), width, height, raster.data(), ORIENTATION_TOPLEFT, 0)) {
    throw fail("cannot decode the pixels");
  }
  RgbImage img;
  img.height = static_cast<int>(height);
  img.width = static_cast<int>(width);
  img.pixels.resize(raster.size() * 3);
  for (size_t i = 0; i < raster.size(); ++i) {
    img.pixels[3 * i] = static_cast<uint8_t>(TIFFGetR(raster[i]));
    img.pixels[3 * i + 1] = static_cast<uint8_t>(TIFFGetG(raster[i]));
    img.pixels[3 * i + 2] = static_cast<uint8_t>(TIFFGetB(raster[i]));
  }
  return img;
}

RgbImage readPngFile(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    throw InputError(path + ": not a valid PNG: " + image.message);
  }
  image.format = PNG_FORMAT_RGB;
  if (static_cast<int64_t>(image.height) * image.width > kMaxImagePixels) {
    png_image_free(&image);
    checkImageSize(image.height, image.width, path, "PNG");
  }
  RgbImage img;
  img.height = static_cast<int>(image.height);
  img.width = static_cast<int>(image.width);
  img.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, img.pixels.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw InputError(path + ": not a valid PNG: " + message);
  }
  return img;
}

}  // namespace agreid::data
