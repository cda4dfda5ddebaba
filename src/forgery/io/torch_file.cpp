#include "forgery/io/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"

namespace forgery {

namespace {

// The pickle opcodes that torch.save (protocol 2) and LibTorch's pickler emit.
enum Op : uint8_t {
  MARK = '(', STOP = '.', BININT = 'J', BININT1 = 'K', BININT2 = 'M', NONE = 'N',
  BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U', BINUNICODE = 'X',
  APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}', APPENDS = 'e',
  BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', BINPUT = 'q',
  LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
  BINFLOAT = 'G', PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87,
  NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d,
  STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
};

struct Item {
  enum Kind { Value, Global, Mark } kind = Value;
  c10::IValue value;
  std::string module, name;  // for Global
};

c10::ScalarType storage_dtype(const std::string& name, const std::string& file) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"FloatStorage", c10::kFloat}, {"DoubleStorage", c10::kDouble}, {"HalfStorage", c10::kHalf},
      {"BFloat16Storage", c10::kBFloat16}, {"LongStorage", c10::kLong}, {"IntStorage", c10::kInt},
      {"ShortStorage", c10::kShort}, {"CharStorage", c10::kChar}, {"ByteStorage", c10::kByte},
      {"BoolStorage", c10::kBool}};
  auto it = types.find(name);
  if (it == types.end()) throw Error(file + ": unsupported tensor storage type torch." + name);
  return it->second;
}

// The CRC-32 of every record, by its name inside the archive ("data.pkl", "data/0"), from the
// zip's central directory (zip64 too). LibTorch's reader does not check them; Forgery does, so
// that a checkpoint or weights file changed after it was written (a flipped bit on a disk, a
// partial copy over an old file) is an error, not wrong weights. Empty where the directory
// cannot be read this way (then LibTorch's own reader decides).
using RecordCrcs = std::unordered_map<std::string, uint32_t>;
RecordCrcs record_crcs(const std::string& bytes) {
  RecordCrcs out;
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  auto u16 = [&](size_t at) { return static_cast<uint32_t>(b[at] | b[at + 1] << 8); };
  auto u32 = [&](size_t at) { return u16(at) | u16(at + 2) << 16; };
  auto u64 = [&](size_t at) { return static_cast<uint64_t>(u32(at)) | static_cast<uint64_t>(u32(at + 4)) << 32; };
  if (n < 22) return out;
  size_t eocd = n - 22;
  const size_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
  while (u32(eocd) != 0x06054b50) {
    if (eocd == lowest) return out;
    --eocd;
  }
  uint64_t entries = u16(eocd + 10), cd = u32(eocd + 16);
  if ((entries == 0xFFFF || cd == 0xFFFFFFFF) && eocd >= 20 && u32(eocd - 20) == 0x07064b50) {
    const uint64_t z = u64(eocd - 20 + 8);
    if (z + 56 > n || u32(z) != 0x06064b50) return out;
    entries = u64(z + 32);
    cd = u64(z + 48);
  }
  for (uint64_t i = 0, at = cd; i < entries; ++i) {
    if (at + 46 > n || u32(at) != 0x02014b50) return {};
    const uint32_t name_len = u16(at + 28), extra = u16(at + 30), comment = u16(at + 32);
    if (at + 46 + name_len > n) return {};
    std::string name(bytes, at + 46, name_len);
    // Every record sits under the archive's own folder ("archive/data.pkl").
    const size_t slash = name.find('/');
    out[slash == std::string::npos ? name : name.substr(slash + 1)] = u32(at + 16);
    at += 46 + name_len + extra + comment;
  }
  return out;
}

// A record of the archive, its CRC-32 checked where the directory gave one.
std::pair<at::DataPtr, size_t> checked_record(caffe2::serialize::PyTorchStreamReader& zip, const RecordCrcs& crcs,
                                              const std::string& record, const std::string& file) {
  at::DataPtr data;
  size_t size = 0;
  std::tie(data, size) = zip.getRecord(record);
  if (auto it = crcs.find(record); it != crcs.end()) {
    uLong crc = crc32(0L, Z_NULL, 0);
    const auto* p = static_cast<const Bytef*>(data.get());
    for (size_t left = size; left > 0;) {
      const uInt chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
      crc = crc32(crc, p, chunk);
      p += chunk;
      left -= chunk;
    }
    if (static_cast<uint32_t>(crc) != it->second)
      throw Error(file + " is damaged: its record " + record +
                  " does not match the checksum written with it (the file changed after it was written)");
  }
  return {std::move(data), size};
}

class Unpickler {
 public:
  Unpickler(const std::string& pkl, caffe2::serialize::PyTorchStreamReader& zip, const RecordCrcs& crcs, std::string file)
      : p_(reinterpret_cast<const uint8_t*>(pkl.data())), end_(p_ + pkl.size()), zip_(zip), crcs_(crcs),
        file_(std::move(file)) {}

  c10::IValue run() {
    while (true) {
      uint8_t op = u8();
      switch (op) {
        case PROTO: u8(); break;
        case FRAME: bytes(8); break;
        case STOP: {
          if (stack_.size() != 1 || stack_[0].kind != Item::Value) fail("unbalanced pickle");
          return stack_[0].value;
        }
        case MARK: stack_.push_back(Item{Item::Mark}); break;
        case NONE: push(c10::IValue()); break;
        case NEWTRUE: push(true); break;
        case NEWFALSE: push(false); break;
        case BININT: { int32_t v; std::memcpy(&v, bytes(4), 4); push(static_cast<int64_t>(v)); break; }
        case BININT1: push(static_cast<int64_t>(u8())); break;
        case BININT2: { uint16_t v; std::memcpy(&v, bytes(2), 2); push(static_cast<int64_t>(v)); break; }
        case LONG1: {
          uint8_t n = u8();
          if (n > 8) fail("integer too large");
          const uint8_t* b = bytes(n);
          uint64_t v = 0;
          for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
          push(static_cast<int64_t>(v));
          break;
        }
        case BINFLOAT: {
          const uint8_t* b = bytes(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
          double d;
          std::memcpy(&d, &bits, 8);
          push(d);
          break;
        }
        case BINUNICODE: case BINSTRING: { uint32_t n; std::memcpy(&n, bytes(4), 4); push(str(n)); break; }
        case BINUNICODE8: { uint64_t n; std::memcpy(&n, bytes(8), 8); push(str(n)); break; }
        case SHORT_BINUNICODE: case SHORT_BINSTRING: push(str(u8())); break;
        case EMPTY_DICT: push(new_dict()); break;
        case EMPTY_LIST: push(c10::impl::GenericList(c10::AnyType::get())); break;
        case EMPTY_TUPLE: push(c10::ivalue::Tuple::create(std::vector<c10::IValue>{})); break;
        case TUPLE: push(c10::ivalue::Tuple::create(pop_to_mark())); break;
        case TUPLE1: case TUPLE2: case TUPLE3: {
          size_t n = op - TUPLE1 + 1;
          std::vector<c10::IValue> items(n);
          for (size_t i = n; i-- > 0;) items[i] = pop_value();
          push(c10::ivalue::Tuple::create(std::move(items)));
          break;
        }
        case LIST: {
          c10::impl::GenericList list(c10::AnyType::get());
          for (auto& v : pop_to_mark()) list.push_back(std::move(v));
          push(list);
          break;
        }
        case DICT: {
          auto items = pop_to_mark();
          auto d = new_dict();
          for (size_t i = 0; i + 1 < items.size(); i += 2) d.insert_or_assign(items[i], items[i + 1]);
          push(d);
          break;
        }
        case APPEND: { auto v = pop_value(); top_list().push_back(std::move(v)); break; }
        case APPENDS: { auto vs = pop_to_mark(); auto l = top_list(); for (auto& v : vs) l.push_back(std::move(v)); break; }
        case SETITEM: { auto v = pop_value(); auto k = pop_value(); top_dict().insert_or_assign(k, v); break; }
        case SETITEMS: {
          auto vs = pop_to_mark();
          if (vs.size() % 2) fail("odd SETITEMS");
          auto d = top_dict();
          for (size_t i = 0; i < vs.size(); i += 2) d.insert_or_assign(vs[i], vs[i + 1]);
          break;
        }
        case BINPUT: memo_[u8()] = top(); break;
        case LONG_BINPUT: { uint32_t i; std::memcpy(&i, bytes(4), 4); memo_[i] = top(); break; }
        case MEMOIZE: memo_[static_cast<uint32_t>(memo_.size())] = top(); break;
        case BINGET: stack_.push_back(memo(u8())); break;
        case LONG_BINGET: { uint32_t i; std::memcpy(&i, bytes(4), 4); stack_.push_back(memo(i)); break; }
        case GLOBAL: {
          Item g{Item::Global};
          g.module = line();
          g.name = line();
          stack_.push_back(g);
          break;
        }
        case STACK_GLOBAL: {
          Item g{Item::Global};
          g.name = pop_value().toStringRef();
          g.module = pop_value().toStringRef();
          stack_.push_back(g);
          break;
        }
        case REDUCE: {
          auto args = pop_value();
          Item callable = pop();
          if (callable.kind != Item::Global || !args.isTuple()) fail("unsupported REDUCE");
          push(call(callable, args.toTupleRef().elements().vec()));
          break;
        }
        case NEWOBJ: {
          auto args = pop_value();
          Item cls = pop();
          (void)args;
          fail("unsupported object " + cls.module + "." + cls.name +
               " (Forgery reads dicts, lists, numbers, strings and tensors)");
          break;
        }
        case BUILD: pop_value(); break;  // object state, e.g. a state_dict's _metadata: not needed
        case BINPERSID: push(persistent_load(pop_value())); break;
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "0x%02x", op);
          fail(std::string("unsupported pickle opcode ") + buf);
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(file_ + ": cannot read PyTorch data: " + why);
  }
  uint8_t u8() { return *bytes(1); }
  const uint8_t* bytes(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("data.pkl is truncated");
    const uint8_t* b = p_;
    p_ += n;
    return b;
  }
  std::string str(size_t n) { return std::string(reinterpret_cast<const char*>(bytes(n)), n); }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("data.pkl is truncated");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    return s;
  }
  void push(c10::IValue v) { stack_.push_back(Item{Item::Value, std::move(v)}); }
  Item pop() {
    if (stack_.empty()) fail("stack underflow");
    Item it = std::move(stack_.back());
    stack_.pop_back();
    return it;
  }
  // A class used as a value (the storage type inside a storage reference) becomes the
  // string "global:module.name".
  static c10::IValue as_value(Item it) {
    if (it.kind == Item::Global) return std::string("global:") + it.module + "." + it.name;
    return std::move(it.value);
  }
  c10::IValue pop_value() {
    Item it = pop();
    if (it.kind == Item::Mark) fail("unexpected mark");
    return as_value(std::move(it));
  }
  const Item& top() const {
    if (stack_.empty()) fail("stack underflow");
    return stack_.back();
  }
  Item memo(uint32_t i) const {
    auto it = memo_.find(i);
    if (it == memo_.end()) fail("bad memo reference");
    return it->second;
  }
  std::vector<c10::IValue> pop_to_mark() {
    std::vector<c10::IValue> items;
    while (true) {
      Item it = pop();
      if (it.kind == Item::Mark) break;
      items.push_back(as_value(std::move(it)));
    }
    std::reverse(items.begin(), items.end());
    return items;
  }
  static c10::impl::GenericDict new_dict() {
    return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get());
  }
  c10::impl::GenericList top_list() {
    if (stack_.empty() || stack_.back().kind != Item::Value || !stack_.back().value.isList()) fail("APPEND to a non-list");
    return stack_.back().value.toList();
  }
  c10::impl::GenericDict top_dict() {
    if (stack_.empty() || stack_.back().kind != Item::Value || !stack_.back().value.isGenericDict()) fail("SETITEM on a non-dict");
    return stack_.back().value.toGenericDict();
  }
  static std::vector<int64_t> ints(const c10::IValue& v) {
    std::vector<int64_t> out;
    if (v.isTuple()) for (const auto& e : v.toTupleRef().elements()) out.push_back(e.toInt());
    else if (v.isList()) for (const auto& e : v.toList()) out.push_back(c10::IValue(e).toInt());
    return out;
  }

  c10::IValue call(const Item& g, const std::vector<c10::IValue>& args) {
    const std::string name = g.module + "." + g.name;
    try {
      if (name == "collections.OrderedDict") {
        auto d = new_dict();
        if (!args.empty() && args[0].isList())
          for (const auto& pair : args[0].toList()) {
            auto t = c10::IValue(pair).toTupleRef().elements();
            if (t.size() != 2) fail("an OrderedDict entry that is not a (key, value) pair");
            d.insert_or_assign(t[0], t[1]);
          }
        return d;
      }
      if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
        at::Tensor storage = args.at(0).toTensor();
        int64_t offset = args.at(1).toInt();
        auto size = ints(args.at(2)), stride = ints(args.at(3));
        if (size.size() != stride.size()) fail("a tensor whose size and stride differ in length");
        if (offset < 0) fail("a tensor with a negative storage offset");
        // The last element's index, checked for overflow (a damaged file may hold any numbers).
        int64_t needed = offset + 1;
        for (size_t i = 0; i < size.size(); ++i) {
          if (size[i] < 0 || stride[i] < 0) fail("a tensor with a negative size or stride");
          if (size[i] == 0) { needed = 0; break; }
          int64_t step = 0;
          if (__builtin_mul_overflow(size[i] - 1, stride[i], &step) || __builtin_add_overflow(needed, step, &needed))
            fail("a tensor lies outside its storage");
        }
        if (needed > storage.numel()) fail("a tensor lies outside its storage");
        return storage.as_strided(size, stride, offset);
      }
      if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state")
        return args.at(0);
      if (g.module == "torch.jit._pickle") {
        if (g.name == "restore_type_tag" || g.name.rfind("build_", 0) == 0) return args.at(0);
      }
    } catch (const c10::Error& e) {
      fail("malformed arguments to " + name + ": " + e.what_without_backtrace());
    } catch (const std::out_of_range&) {
      fail("missing arguments to " + name);
    }
    fail("unsupported object " + name + " (Forgery reads dicts, lists, numbers, strings and tensors)");
  }

  c10::IValue persistent_load(const c10::IValue& pid) {
    if (!pid.isTuple()) fail("malformed storage reference");
    auto t = pid.toTupleRef().elements();
    if (t.size() < 5 || !t[0].isString() || t[0].toStringRef() != "storage") fail("malformed storage reference");
    // ("storage", class torch.XStorage, key, location, numel)
    if (!t[1].isString() || t[1].toStringRef().rfind("global:torch.", 0) != 0 || !t[2].isString() || !t[4].isInt())
      fail("malformed storage reference");
    const std::string key = t[2].toStringRef();
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    c10::ScalarType dtype = storage_dtype(t[1].toStringRef().substr(13), file_);
    int64_t numel = t[4].toInt();
    std::string record = "data/" + key;
    if (!zip_.hasRecord(record)) fail("storage " + record + " is missing from the archive");
    at::DataPtr data;
    size_t size = 0;
    std::tie(data, size) = checked_record(zip_, crcs_, record, file_);
    size_t need = static_cast<size_t>(numel) * c10::elementSize(dtype);
    if (size < need) fail("storage " + record + " is truncated (" + std::to_string(size) + " of " + std::to_string(need) + " bytes)");
    at::Tensor tensor = at::empty({numel}, at::TensorOptions().dtype(dtype));
    if (need) std::memcpy(tensor.data_ptr(), data.get(), need);
    storages_[key] = tensor;
    return tensor;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  const RecordCrcs& crcs_;
  std::string file_;
  std::vector<Item> stack_;
  std::unordered_map<uint32_t, Item> memo_;
  std::unordered_map<std::string, at::Tensor> storages_;
};

}  // namespace

c10::IValue load_torch_bytes(const std::string& bytes, const std::string& name, bool check_crcs) {
  if (bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x80)
    throw Error(name + " is in PyTorch's legacy (pre-1.6) format; re-save it in Python with torch.save(obj, path)");
  if (bytes.size() < 4 || bytes.compare(0, 4, "PK\x03\x04") != 0)
    throw Error(name + " is not a PyTorch file (expected a zip archive as written by torch.save)");
  std::istringstream in(bytes);
  try {
    caffe2::serialize::PyTorchStreamReader zip(&in);
    if (!zip.hasRecord("data.pkl")) throw Error(name + " is a zip archive but holds no data.pkl: not a torch.save file");
    const RecordCrcs crcs = check_crcs ? record_crcs(bytes) : RecordCrcs{};
    at::DataPtr pkl;
    size_t size = 0;
    std::tie(pkl, size) = checked_record(zip, crcs, "data.pkl", name);
    std::string text(static_cast<const char*>(pkl.get()), size);
    return Unpickler(text, zip, crcs, name).run();
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(name + " is truncated or corrupt: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Error(name + " is truncated or corrupt: " + e.what());
  }
}

c10::IValue load_torch_file(const fs::path& path) {
  return load_torch_bytes(read_file(path, "PyTorch file"), path.string());
}

void save_torch_file(const fs::path& path, const c10::IValue& value) {
  // What torch::pickle_save writes (the archive torch.save writes), streamed to the file
  // instead of assembled in memory: a checkpoint can be most of a gigabyte.
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); });
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  AtomicFile out(path);
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) -> size_t {
      out.write(bytes, n);  // errors are kept for commit(), the stream writer sees success
      return n;
    });
    torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
    writer.writeEndOfFile();
  }
  out.commit();
}

void save_state_dict(const fs::path& path, const NamedTensors& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, standalone_cpu(t));
  save_torch_file(path, dict);
}

at::Tensor standalone_cpu(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  // The pickler writes a tensor's whole storage: copy views so that only their own data goes.
  const bool whole = c.storage_offset() == 0 && c.storage().nbytes() == static_cast<size_t>(c.numel()) * c.element_size();
  return whole ? c : c.clone();
}

namespace {

c10::IValue owned_copy_into(const c10::IValue& value, std::set<int>& cuda_devices) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    if (!t.defined()) return value;
    // Already owned: a contiguous CPU tensor that is the only user of its storage (a fresh copy,
    // such as a GPU tensor the checkpoint brought to the host, or a generator's state) needs no
    // second copy; nothing else can change it.
    if (t.device().is_cpu() && t.is_contiguous() && t.storage_offset() == 0 && t.use_count() == 1 &&
        t.storage().use_count() == 1)
      return value;
    if (t.is_cuda()) {
      // Into page-locked memory, without waiting (one wait for all of them at the end): a DMA
      // copy, and LibTorch's caching host allocator hands the same blocks back epoch after epoch
      // once the writer has let go of them, so no fresh pages to fault in either.
      at::Tensor host = at::empty(t.sizes(), t.options().device(at::kCPU).pinned_memory(true));
      host.copy_(t.detach(), /*non_blocking=*/true);
      cuda_devices.insert(t.get_device());
      return host;
    }
    return t.detach().to(at::kCPU, t.scalar_type(), /*non_blocking=*/false, /*copy=*/true, at::MemoryFormat::Contiguous);
  }
  if (value.isGenericDict()) {
    const auto d = value.toGenericDict();
    c10::impl::GenericDict out(d.keyType(), d.valueType());
    out.reserve(d.size());
    for (const auto& entry : d) out.insert(entry.key(), owned_copy_into(entry.value(), cuda_devices));
    return out;
  }
  if (value.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : value.toTensorVector()) out.push_back(owned_copy_into(t, cuda_devices).toTensor());
    return out;
  }
  if (value.isList()) {
    const auto l = value.toList();
    c10::impl::GenericList out(l.elementType());
    out.reserve(l.size());
    for (const c10::IValue& v : l) out.push_back(owned_copy_into(v, cuda_devices));
    return out;
  }
  if (value.isTuple()) {
    std::vector<c10::IValue> items;
    for (const auto& v : value.toTupleRef().elements()) items.push_back(owned_copy_into(v, cuda_devices));
    return c10::ivalue::Tuple::create(std::move(items));
  }
  return value;  // numbers, strings, None: immutable
}

}  // namespace

c10::IValue owned_copy(const c10::IValue& value) {
  std::set<int> cuda_devices;
  c10::IValue out = owned_copy_into(value, cuda_devices);
  for (int d : cuda_devices) torch::cuda::synchronize(d);  // the copies have landed
  return out;
}

NamedTensors tensors_of(const c10::IValue& value, const std::string& what) {
  if (!value.isGenericDict()) throw Error(what + " does not hold a dict of tensors");
  NamedTensors out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString()) throw Error(what + " has a non-string key");
    if (!entry.value().isTensor()) continue;
    out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  }
  return out;
}

NamedTensors load_state_dict(const fs::path& path) {
  auto v = load_torch_file(path);
  auto tensors = tensors_of(v, path.string());
  if (tensors.empty()) throw Error(path.string() + " holds no tensors: not a state_dict");
  return tensors;
}

}  // namespace forgery
