#include "forgery/data/idx.h"

#include <zlib.h>

#include <cstring>

#include "forgery/core/error.h"

namespace forgery {

namespace {
std::vector<uint8_t> read_maybe_gzip(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("IDX file " + path.string() + " does not exist");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open IDX file " + path.string() + ": " + std::strerror(errno));
  gzbuffer(f, 1 << 20);
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  while (true) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw Error("IDX file " + path.string() + " is corrupt (gzip: " + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  int err = Z_OK;
  std::string msg = gzerror(f, &err);
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END)
    throw Error("IDX file " + path.string() + " is " + (err == Z_BUF_ERROR ? "truncated" : "corrupt") +
                " (gzip: " + msg + ")");
  return out;
}
}  // namespace

IdxArray read_idx(const std::filesystem::path& path, int expected_rank) {
  std::vector<uint8_t> bytes = read_maybe_gzip(path);
  const std::string name = "IDX file " + path.string();
  if (bytes.size() < 4) throw Error(name + " is truncated: " + std::to_string(bytes.size()) + " bytes, no header");
  if (bytes[0] != 0 || bytes[1] != 0)
    throw Error(name + " has a wrong magic number (not an IDX file)");
  if (bytes[2] != 0x08)
    throw Error(name + " holds element type 0x" + std::to_string(bytes[2]) + "; only unsigned bytes (0x08) are supported");
  int rank = bytes[3];
  if (rank < 1 || rank > 4) throw Error(name + " has a wrong magic number (rank " + std::to_string(rank) + ")");
  if (expected_rank >= 0 && rank != expected_rank)
    throw Error(name + " has rank " + std::to_string(rank) + ", expected " + std::to_string(expected_rank));
  size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) throw Error(name + " is truncated inside its header");
  IdxArray out;
  size_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const uint8_t* p = bytes.data() + 4 + 4 * i;
    uint32_t d = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
    if (d > (1u << 30)) throw Error(name + " declares an impossible dimension " + std::to_string(d));
    out.dims.push_back(d);
    count *= d;
    if (count > (size_t(1) << 36)) throw Error(name + " declares an impossibly large array");
  }
  size_t have = bytes.size() - header;
  if (have < count)
    throw Error(name + " is truncated: expected " + std::to_string(count) + " data bytes, found " + std::to_string(have));
  if (have > count)
    throw Error(name + " has " + std::to_string(have - count) + " unexpected bytes after its data");
  out.data.assign(bytes.begin() + static_cast<long>(header), bytes.end());
  return out;
}

std::vector<uint8_t> encode_idx(const IdxArray& array) {
  std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(array.dims.size())};
  for (int64_t d : array.dims)
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>((d >> s) & 0xff));
  out.insert(out.end(), array.data.begin(), array.data.end());
  return out;
}

}  // namespace forgery
