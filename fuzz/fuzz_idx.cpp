// IDX files, raw and gzip: any bytes give an array or a forgery::Error.
#include <cstddef>
#include <cstdint>

#include "forgery/core/error.h"
#include "forgery/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    forgery::IdxArray a = forgery::decode_idx(std::vector<uint8_t>(data, data + size), "fuzz");
    size_t n = 1;
    for (int64_t d : a.dims) n *= static_cast<size_t>(d);
    if (n != a.data.size()) __builtin_trap();  // the dimensions describe the data
  } catch (const forgery::Error&) {
  }
  return 0;
}
