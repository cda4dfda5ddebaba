#include "forgery/io/safetensors.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"

namespace forgery {

namespace {

struct DtypeName {
  const char* name;
  at::ScalarType type;
};

// The format's dtypes that LibTorch has.
constexpr DtypeName kDtypes[] = {{"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16},
                                 {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
                                 {"U8", at::kByte},    {"BOOL", at::kBool}};

const char* dtype_name(at::ScalarType t, const std::string& what) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw Error(what + ": safetensors has no dtype for " + std::string(c10::toString(t)));
}

// The format's own limit on the header (its library refuses larger ones).
constexpr uint64_t kMaxHeader = 100'000'000;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string what = "cannot write " + path.string();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  std::vector<at::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error(what + ": a tensor may not be called __metadata__");
    if (header.contains(name)) throw Error(what + ": the name " + name + " appears twice");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    header[name] = {{"dtype", dtype_name(c.scalar_type(), what + " (tensor " + name + ")")},
                    {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string text = header.dump();
  // Padded with spaces so that the data starts 8-byte aligned, as the format's writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  AtomicFile out(path);
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (const auto& c : data) out.write(c.data_ptr(), c.numel() * c.element_size());
  out.commit();
}

NamedTensors load_safetensors_bytes(const std::string& bytes, const std::string& name,
                                    std::map<std::string, std::string>* metadata) {
  const std::string what = name + ": not a valid safetensors file";
  if (bytes.size() < 8) throw Error(what + ": " + std::to_string(bytes.size()) + " bytes, too short for the header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  if (n > kMaxHeader) throw Error(what + ": header length " + std::to_string(n) + " exceeds the format's limit of 100 MB");
  if (n > bytes.size() - 8)
    throw Error(what + ": header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(bytes.size()) + " bytes; truncated?)");
  if (n == 0 || bytes[8] != '{') throw Error(what + ": the header does not start with '{'");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": the header is not JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw Error(what + ": the header is not a JSON object");
  const uint64_t buffer = bytes.size() - 8 - n;
  const char* base = bytes.data() + 8 + n;
  struct Entry {
    std::string name;
    at::ScalarType type;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string key = it.key();
    const auto& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object()) throw Error(what + ": __metadata__ is not an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(what + ": __metadata__ entry " + m.key() + " is not a string");
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string t = what + ": tensor " + key;
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw Error(t + ": expected an object with dtype, shape and data_offsets");
    if (!v["dtype"].is_string()) throw Error(t + ": dtype is not a string");
    const std::string dtype = v["dtype"].get<std::string>();
    const DtypeName* d = std::find_if(std::begin(kDtypes), std::end(kDtypes), [&](const DtypeName& x) { return dtype == x.name; });
    if (d == std::end(kDtypes)) {
      std::string known;
      for (const auto& x : kDtypes) known += (known.empty() ? "" : ", ") + std::string(x.name);
      throw Error(t + ": dtype '" + dtype + "' is not one Forgery reads (" + known + ")");
    }
    Entry e{key, d->type, {}, 0, 0};
    if (!v["shape"].is_array()) throw Error(t + ": shape is not a list");
    uint64_t numel = 1;
    for (const auto& s : v["shape"]) {
      if (!s.is_number_unsigned()) throw Error(t + ": shape " + v["shape"].dump() + " is not a list of sizes");
      const uint64_t size = s.get<uint64_t>();
      if (size > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, size, &numel))
        throw Error(t + ": shape " + v["shape"].dump() + " is too large");
      e.shape.push_back(static_cast<int64_t>(size));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error(t + ": data_offsets " + off.dump() + " is not [begin, end]");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end) throw Error(t + ": data_offsets " + off.dump() + " end before they begin");
    if (e.end > buffer)
      throw Error(t + ": data_offsets " + off.dump() + " run past the " + std::to_string(buffer) +
                  " bytes of data (truncated?)");
    uint64_t need = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(c10::elementSize(d->type)), &need) || need != e.end - e.begin)
      throw Error(t + ": shape " + shape_text(e.shape) + " of " + dtype + " takes " + std::to_string(numel) + " x " +
                  std::to_string(c10::elementSize(d->type)) + " bytes, data_offsets give " +
                  std::to_string(e.end - e.begin));
    entries.push_back(std::move(e));
  }
  // The tensors tile the data: no overlap, no bytes that belong to none.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < at)
      throw Error(what + ": tensors " + entries[i - 1].name + " and " + e.name + " overlap (bytes " +
                  std::to_string(e.begin) + " to " + std::to_string(at) + ")");
    if (e.begin > at)
      throw Error(what + ": bytes " + std::to_string(at) + " to " + std::to_string(e.begin) +
                  " of the data belong to no tensor");
    at = e.end;
  }
  if (at != buffer)
    throw Error(what + ": bytes " + std::to_string(at) + " to " + std::to_string(buffer) + " of the data belong to no tensor");
  NamedTensors out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.type));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), base + e.begin, e.end - e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

NamedTensors load_safetensors(const std::filesystem::path& path, std::map<std::string, std::string>* metadata) {
  return load_safetensors_bytes(read_file(path, "safetensors file"), path.string(), metadata);
}

bool is_safetensors_file(const std::filesystem::path& path) {
  if (path.extension() == ".safetensors") return true;
  std::ifstream in(path, std::ios::binary);
  char head[9];
  if (!in.read(head, 9)) return false;
  // A zip (torch.save) starts with "PK"; a safetensors header length below 2^48 has two zero
  // top bytes, and its JSON starts with '{'.
  return head[6] == 0 && head[7] == 0 && head[8] == '{';
}

c10::IValue load_weights_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error("weights file " + path.string() + " does not exist");
  if (!is_safetensors_file(path)) return load_torch_file(path);
  c10::impl::GenericDict d(c10::StringType::get(), c10::TensorType::get());
  for (auto& [k, t] : load_safetensors(path)) d.insert(k, t);
  return d;
}

}  // namespace forgery
