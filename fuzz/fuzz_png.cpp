// PNG decoding (libpng through Forgery's reader): an image or a forgery::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "forgery/core/error.h"
#include "forgery/io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    forgery::Image im = forgery::decode_png(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    if (im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.channels) __builtin_trap();
  } catch (const forgery::Error&) {
  }
  return 0;
}
