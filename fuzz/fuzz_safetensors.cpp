// safetensors files: tensors or a forgery::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "forgery/core/error.h"
#include "forgery/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    (void)forgery::load_safetensors_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const forgery::Error&) {
  }
  return 0;
}
