#include <cerrno>
#include <csetjmp>
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

// Returns false with `message` set on failure. `out` must hold width*height*channels bytes
// once the header is read; it is resized through the callback, keeping this frame plain.
bool decode_jpeg(const unsigned char* data, unsigned long size, Image* out, char* message) {
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
  // Grey stays grey; everything else (YCbCr, CMYK, ...) is converted to RGB by libjpeg.
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    std::strncpy(message, "CMYK JPEG images are not supported", JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_start_decompress(&cinfo);
  out->width = static_cast<int>(cinfo.output_width);
  out->height = static_cast<int>(cinfo.output_height);
  out->channels = cinfo.output_components;
  out->pixels.resize(static_cast<size_t>(out->width) * out->height * out->channels);
  const size_t stride = static_cast<size_t>(out->width) * out->channels;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}
}  // namespace

Image read_jpeg(const fs::path& path) {
  std::string bytes = read_file(path, "image");
  Image image;
  char message[JMSG_LENGTH_MAX] = {0};
  if (!decode_jpeg(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &image, message))
    throw Error("image " + path.string() + " is not a readable JPEG: " + message);
  return image;
}
#else
bool jpeg_supported() { return false; }
Image read_jpeg(const fs::path& path) {
  throw Error("cannot read " + path.string() + ": this build has no JPEG support (libjpeg)");
}
#endif

Image read_image(const fs::path& path) {
  std::string head(8, '\0');
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Error("cannot open image " + path.string() + ": " + std::strerror(errno));
    head.resize(std::fread(head.data(), 1, head.size(), f));
    std::fclose(f);
  }
  if (head.size() >= 3 && static_cast<unsigned char>(head[0]) == 0xFF && static_cast<unsigned char>(head[1]) == 0xD8)
    return read_jpeg(path);
  if (head.size() >= 8 && head.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return read_png(path);
  if (head.empty()) throw Error("image " + path.string() + " is empty");
  throw Error("image " + path.string() + " is neither a JPEG nor a PNG file");
}

}  // namespace forgery
