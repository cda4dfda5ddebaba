// PyTorch files (zip + pickle, Forgery's own unpickler): a value or a clear error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "forgery/core/error.h"
#include "forgery/io/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // Checksums off: the parser itself is what is fuzzed (a checked load stops at the CRC).
    (void)forgery::load_torch_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz", false);
  } catch (const forgery::Error&) {
    // LibTorch's zip reader's errors come back as forgery::Errors naming the file too.
  }
  return 0;
}
