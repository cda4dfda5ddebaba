#include <cstring>

#include "forgery/core/error.h"
#include "forgery/features.h"
#include "forgery/core/fs.h"
#include "forgery/io/image.h"

#if FORGERY_HAVE_PNG
#include <png.h>
#endif

namespace forgery {

#if FORGERY_HAVE_PNG
bool png_supported() { return true; }

void write_png(const fs::path& path, const Image& image) {
  if (image.channels != 1 && image.channels != 3)
    throw Error("cannot write " + path.string() + ": images must have 1 or 3 channels");
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = image.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr))
    throw Error("cannot encode " + path.string() + ": " + png.message);
  std::string bytes(size, '\0');
  if (!png_image_write_to_memory(&png, bytes.data(), &size, 0, image.pixels.data(), 0, nullptr))
    throw Error("cannot encode " + path.string() + ": " + png.message);
  bytes.resize(size);
  atomic_write_file(path, bytes);
}

Image read_png(const fs::path& path) { return decode_png(read_file(path, "image"), path.string()); }

Image decode_png(const std::string& bytes, const std::string& name) {
  png_image png;
  std::memset(&png, 0, sizeof png);
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()))
    throw Error("image " + name + " is not a readable PNG: " + png.message);
  if (static_cast<uint64_t>(png.width) * png.height > kMaxImagePixels) {
    const std::string dims = std::to_string(png.width) + " x " + std::to_string(png.height);
    png_image_free(&png);
    throw Error("image " + name + " is " + dims + " pixels, more than the " +
                std::to_string(kMaxImagePixels / 1000000) + " million Forgery reads");
  }
  bool grey = (png.format & PNG_FORMAT_FLAG_COLOR) == 0;
  png.format = grey ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  Image image;
  image.width = static_cast<int>(png.width);
  image.height = static_cast<int>(png.height);
  image.channels = grey ? 1 : 3;
  image.pixels.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, image.pixels.data(), 0, nullptr))
    throw Error("image " + name + " is corrupt: " + png.message);
  return image;
}
#else
bool png_supported() { return false; }
void write_png(const fs::path& path, const Image&) {
  throw Error("cannot write " + path.string() + ": this build has no PNG support (libpng)");
}
Image read_png(const fs::path& path) { return decode_png({}, path.string()); }
Image decode_png(const std::string&, const std::string& name) {
  throw Error("cannot read " + name + ": this build has no PNG support (libpng)");
}
#endif

}  // namespace forgery
