#pragma once
// IDX files (the MNIST family's format), raw or gzip-compressed. No torch here.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // unsigned bytes, row-major
};

// Reads an unsigned-byte IDX file; wrong magic, truncated or trailing data, corrupt gzip and
// unexpected rank are errors naming the file. `expected_rank` < 0 accepts any rank.
IdxArray read_idx(const std::filesystem::path& path, int expected_rank = -1);
// The same from the file's bytes (gzip recognised by its magic); errors name `name`.
IdxArray decode_idx(const std::vector<uint8_t>& file, const std::string& name, int expected_rank = -1);
// Encodes an IDX file (used to write datasets and test data).
std::vector<uint8_t> encode_idx(const IdxArray& array);
// One gzip member of `bytes` (what gzip and Python's gzip module write, and decode_idx reads).
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes);

}  // namespace forgery
