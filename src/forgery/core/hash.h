#pragma once
// FNV-1a (64-bit): the cache keys of data and networks (classifiers, domain judges, real-image
// features). A key, not a checksum against tampering.
#include <cstddef>
#include <cstdint>
#include <string>

namespace forgery {

constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

// `h` carried on over `n` bytes at `data`, a byte at a time.
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnvOffset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}
inline uint64_t fnv1a(const std::string& bytes, uint64_t h = kFnvOffset) { return fnv1a(bytes.data(), bytes.size(), h); }
// `h` carried on over one whole 64-bit value (a shape's size) as a single step.
inline uint64_t fnv1a_word(uint64_t value, uint64_t h) { return (h ^ value) * 1099511628211ULL; }

}  // namespace forgery
