#include <csetjmp>
#include <cstring>
#include <memory>
#include <vector>

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

namespace {
// libpng's classic reader over a byte string; its errors land here (longjmp) and become Errors.
// Every object that outlives setjmp lives in this struct on the heap, so nothing on the stack is
// changed between setjmp and a longjmp.
struct PngReader {
  const std::string* bytes = nullptr;
  size_t pos = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::string message;
  bool header_read = false;
  Image image;
  std::vector<png_bytep> rows;
  std::vector<uint8_t> buffer;
  ~PngReader() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->bytes->size() - r->pos) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, r->bytes->data() + r->pos, n);
  r->pos += n;
}

void on_error(png_structp png, png_const_charp message) {
  static_cast<PngReader*>(png_get_error_ptr(png))->message = message;
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}
}  // namespace

// As PIL's Image.open(...).convert("RGB") (or "L" for grey files), which the reference programs
// and torchvision's ImageFolder read images with: alpha and transparency dropped (not composited),
// gAMA, sRGB, cHRM and ICC chunks ignored, 16-bit colour and grey + alpha samples cut to their
// high byte, 16-bit grey clipped to 255 (PIL opens it as a 32-bit integer image, whose conversion
// clips), 1-, 2- and 4-bit grey scaled to 0-255, palettes expanded to RGB (indices the palette
// does not cover read as grey, as in PIL).
Image decode_png(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 8 || png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) != 0)
    throw Error("image " + name + " is not a readable PNG: no PNG signature");
  auto r = std::make_unique<PngReader>();
  r->bytes = &bytes;
  r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, r.get(), on_error, on_warning);
  if (!r->png || !(r->info = png_create_info_struct(r->png))) throw Error("image " + name + ": out of memory");
  png_set_read_fn(r->png, r.get(), read_bytes);
  if (setjmp(png_jmpbuf(r->png)))
    throw Error("image " + name + (r->header_read ? " is corrupt: " : " is not a readable PNG: ") + r->message);
  png_read_info(r->png, r->info);
  r->header_read = true;
  const png_uint_32 width = png_get_image_width(r->png, r->info), height = png_get_image_height(r->png, r->info);
  if (static_cast<uint64_t>(width) * height > kMaxImagePixels)
    throw Error("image " + name + " is " + std::to_string(width) + " x " + std::to_string(height) +
                " pixels, more than the " + std::to_string(kMaxImagePixels / 1000000) + " million Forgery reads");
  const int colour = png_get_color_type(r->png, r->info);
  const int depth = png_get_bit_depth(r->png, r->info);
  // Palette images are read as indices (1, 2 and 4 bits unpacked to a byte each) and looked up
  // below, as PIL does: its palette holds grey i at every index i the PLTE chunk does not fill,
  // where libpng's expansion would give black.
  const bool indexed = colour == PNG_COLOR_TYPE_PALETTE;
  if (indexed && depth < 8) png_set_packing(r->png);
  if (colour == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
  const bool wide_grey = colour == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (depth == 16 && !wide_grey) png_set_strip_16(r->png);
  png_set_interlace_handling(r->png);
  png_read_update_info(r->png, r->info);
  // Grey, grey + alpha, RGB or RGB + alpha (a palette's transparency may come as alpha).
  const int in_channels = png_get_channels(r->png, r->info);
  const size_t row_bytes = png_get_rowbytes(r->png, r->info);
  const size_t sample_bytes = wide_grey ? 2 : 1;
  if (in_channels < 1 || in_channels > 4 || row_bytes != static_cast<size_t>(width) * in_channels * sample_bytes)
    png_error(r->png, "unexpected sample layout");
  r->buffer.resize(row_bytes * height);
  r->rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) r->rows[y] = r->buffer.data() + y * row_bytes;
  // What follows the image data (text, IEND) is not read: a file cut after it still decodes, as in PIL.
  png_read_image(r->png, r->rows.data());
  const int channels = indexed || in_channels >= 3 ? 3 : 1;
  Image& image = r->image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = channels;
  if (indexed) {
    uint8_t table[256][3];
    for (int i = 0; i < 256; ++i) table[i][0] = table[i][1] = table[i][2] = static_cast<uint8_t>(i);
    png_colorp palette = nullptr;
    int entries = 0;
    if (png_get_PLTE(r->png, r->info, &palette, &entries) & PNG_INFO_PLTE)
      for (int i = 0; i < entries && i < 256; ++i) {
        table[i][0] = palette[i].red;
        table[i][1] = palette[i].green;
        table[i][2] = palette[i].blue;
      }
    const size_t n = static_cast<size_t>(width) * height;
    image.pixels.resize(n * 3);
    for (size_t i = 0; i < n; ++i) std::memcpy(&image.pixels[3 * i], table[r->buffer[i]], 3);
  } else if (wide_grey) {
    const size_t n = static_cast<size_t>(width) * height;
    image.pixels.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const unsigned v = (static_cast<unsigned>(r->buffer[2 * i]) << 8) | r->buffer[2 * i + 1];  // big-endian
      image.pixels[i] = static_cast<uint8_t>(v > 255 ? 255 : v);
    }
  } else if (channels == in_channels) {
    image.pixels = std::move(r->buffer);
  } else {
    const size_t n = static_cast<size_t>(width) * height;
    image.pixels.resize(n * channels);
    for (size_t i = 0; i < n; ++i)
      for (int c = 0; c < channels; ++c) image.pixels[i * channels + c] = r->buffer[i * in_channels + c];
  }
  return std::move(r->image);
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
