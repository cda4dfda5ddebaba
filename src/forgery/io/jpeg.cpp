#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/features.h"
#include "forgery/io/image.h"

#if FORGERY_HAVE_JPEG
#include <jpeglib.h>
#endif

namespace forgery {

#if FORGERY_HAVE_JPEG
bool jpeg_supported() { return true; }

namespace {
// libjpeg reports fatal errors through error_exit, which must not return: jump back to the
// decoder with the message kept. No C++ object with a destructor lives between setjmp and
// longjmp (decode_jpeg below holds only plain data).
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
void on_warning(j_common_ptr cinfo, int level) {
  // Corrupt-data warnings (level -1) mean damaged image data: treat them as errors too, so a
  // truncated file is reported instead of decoded with grey blocks.
  if (level < 0) on_error(cinfo);
}

// PIL's reading of a four-layer JPEG: the samples inverted (PIL assumes Adobe's convention for
// every CMYK JPEG), then its CMYK to RGB conversion, per channel 255 - K - C * (255 - K) / 255
// rounded as PIL rounds. In place: every byte written has been read already.
void cmyk_to_rgb(Image* image) {
  const size_t n = static_cast<size_t>(image->width) * image->height;
  uint8_t* p = image->pixels.data();
  for (size_t i = 0; i < n; ++i) {
    const unsigned not_k = p[4 * i + 3];  // 255 - K, K being the inverted sample
    for (int c = 0; c < 3; ++c) {
      const unsigned ink = 255u - p[4 * i + c];
      const unsigned t = ink * not_k + 128;
      const unsigned scaled = ((t >> 8) + t) >> 8;
      p[3 * i + c] = static_cast<uint8_t>(not_k - scaled);  // scaled <= not_k: no clipping needed
    }
  }
  image->channels = 3;
  image->pixels.resize(n * 3);
}

// Returns false with `message` set on failure. Only plain data lives in this frame (`out` is
// the caller's), so the longjmp from on_error skips no destructor.
bool decode_jpeg_into(const unsigned char* data, unsigned long size, Image* out, char* message) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = on_error;
  err.base.emit_message = on_warning;
  if (setjmp(err.jump)) {
    std::strncpy(message, err.message, JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  // Grey stays grey; YCbCr and RGB are converted to RGB by libjpeg; CMYK and YCCK are read as
  // CMYK (libjpeg converts YCCK) and converted to RGB below, as PIL does.
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = grey ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  if (static_cast<uint64_t>(cinfo.output_width) * cinfo.output_height > kMaxImagePixels) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%u x %u pixels, more than the %llu million Forgery reads",
                  cinfo.output_width, cinfo.output_height, static_cast<unsigned long long>(kMaxImagePixels / 1000000));
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  out->channels = cinfo.output_components;
  out->pixels.resize(static_cast<size_t>(out->width) * out->height * out->channels);
  const size_t stride = static_cast<size_t>(out->width) * out->channels;  // CMYK: 4 per pixel until converted
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (cmyk) cmyk_to_rgb(out);
  return true;
}
}  // namespace

Image decode_jpeg(const std::string& bytes, const std::string& name) {
  Image image;
  char message[JMSG_LENGTH_MAX] = {0};
  if (!decode_jpeg_into(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &image, message))
    throw Error("image " + name + " is not a readable JPEG: " + message);
  return image;
}
#else
bool jpeg_supported() { return false; }
Image decode_jpeg(const std::string&, const std::string& name) {
  throw Error("cannot read " + name + ": this build has no JPEG support (libjpeg)");
}
#endif

Image read_jpeg(const fs::path& path) { return decode_jpeg(read_file(path, "image"), path.string()); }

Image read_image(const fs::path& path) {
  const std::string bytes = read_file(path, "image");
  if (bytes.empty()) throw Error("image " + path.string() + " is empty");
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF && static_cast<unsigned char>(bytes[1]) == 0xD8)
    return decode_jpeg(bytes, path.string());
  if (bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return decode_png(bytes, path.string());
  throw Error("image " + path.string() + " is neither a JPEG nor a PNG file");
}

}  // namespace forgery
