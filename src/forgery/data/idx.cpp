#include "forgery/data/idx.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "forgery/core/error.h"

namespace forgery {

namespace {
// gzip (one or more members, as gzip and Python's gzip module write them) inflated in memory.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& name) {
  std::vector<uint8_t> out;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error("cannot inflate " + name + ": zlib failed to start");
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::vector<uint8_t> chunk(1 << 20);
  int rc = Z_OK;
  while (true) {
    z.next_out = chunk.data();
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&z, Z_NO_FLUSH);
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - z.avail_out));
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another member follows
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      inflateEnd(&z);
      throw Error(name + " is truncated (gzip: the compressed data ends early)");
    }
    std::string msg = z.msg ? z.msg : "error " + std::to_string(rc);
    inflateEnd(&z);
    throw Error(name + " is corrupt (gzip: " + msg + ")");
  }
  inflateEnd(&z);
  return out;
}
}  // namespace

IdxArray read_idx(const std::filesystem::path& path, int expected_rank) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("IDX file " + path.string() + " does not exist");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open IDX file " + path.string() + ": " + std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_idx(bytes, "IDX file " + path.string(), expected_rank);
}

IdxArray decode_idx(const std::vector<uint8_t>& file, const std::string& name, int expected_rank) {
  const bool gz = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
  std::vector<uint8_t> inflated;
  if (gz) inflated = gunzip(file, name);
  const std::vector<uint8_t>& bytes = gz ? inflated : file;
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
    // Checked before multiplying: 2^36 x 2^30 would wrap around 64 bits to a small count.
    if (d != 0 && count > (size_t(1) << 36) / d) throw Error(name + " declares an impossibly large array");
    count *= d;
  }
  size_t have = bytes.size() - header;
  if (have < count)
    throw Error(name + " is truncated: expected " + std::to_string(count) + " data bytes, found " + std::to_string(have));
  if (have > count)
    throw Error(name + " has " + std::to_string(have - count) + " unexpected bytes after its data");
  out.data.assign(bytes.begin() + static_cast<long>(header), bytes.end());
  return out;
}

std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("cannot compress: zlib failed to start");
  std::vector<uint8_t> out(deflateBound(&z, static_cast<uLong>(bytes.size())));
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error("cannot compress: zlib stopped early");
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
