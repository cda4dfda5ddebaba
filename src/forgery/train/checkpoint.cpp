#include "forgery/train/checkpoint.h"

#include "forgery/core/error.h"
#include "forgery/train/options.h"

namespace forgery {

Checkpoint Checkpoint::read(const std::filesystem::path& path) {
  Checkpoint c;
  c.path_ = path;
  c10::IValue v = load_torch_file(path);
  if (!v.isGenericDict()) throw Error("checkpoint " + path.string() + " is not a Forgery checkpoint (no dict)");
  c.dict_ = v.toGenericDict();
  if (!c.has("format") || c.get_string("format") != kCheckpointFormat)
    throw Error("checkpoint " + path.string() + " is not a Forgery checkpoint (a plain state_dict? "
                "use --init-from for weights saved by Python)");
  if (c.get_int("version") > kCheckpointVersion)
    throw Error("checkpoint " + path.string() + " was written by a newer Forgery (format version " +
                std::to_string(c.get_int("version")) + ")");
  return c;
}

std::filesystem::path Checkpoint::locate(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) throw Error(p.string() + " does not exist");
  if (!std::filesystem::is_directory(p, ec)) return p;
  auto last = p / "checkpoints" / "last.pt";
  if (!std::filesystem::exists(last, ec))
    throw Error(p.string() + " has no checkpoints/last.pt: not a Forgery run folder, or the run "
                "stopped before its first checkpoint");
  return last;
}

bool Checkpoint::has(const std::string& key) const { return dict_.contains(c10::IValue(key)); }

c10::IValue Checkpoint::get(const std::string& key) const {
  auto it = dict_.find(c10::IValue(key));
  if (it == dict_.end()) throw Error("checkpoint " + path_.string() + " lacks '" + key + "' (corrupt or from another tool)");
  return it->value();
}

int64_t Checkpoint::get_int(const std::string& key) const {
  auto v = get(key);
  if (!v.isInt()) throw Error("checkpoint " + path_.string() + ": '" + key + "' is not an integer");
  return v.toInt();
}
double Checkpoint::get_float(const std::string& key) const {
  auto v = get(key);
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (!v.isDouble()) throw Error("checkpoint " + path_.string() + ": '" + key + "' is not a number");
  return v.toDouble();
}
std::string Checkpoint::get_string(const std::string& key) const {
  auto v = get(key);
  if (!v.isString()) throw Error("checkpoint " + path_.string() + ": '" + key + "' is not a string");
  return v.toStringRef();
}
at::Tensor Checkpoint::get_tensor(const std::string& key) const {
  auto v = get(key);
  if (!v.isTensor()) throw Error("checkpoint " + path_.string() + ": '" + key + "' is not a tensor");
  return v.toTensor();
}
NamedTensors Checkpoint::get_tensors(const std::string& key) const {
  return tensors_of(get(key), "checkpoint " + path_.string() + " entry '" + key + "'");
}
c10::impl::GenericDict Checkpoint::get_dict(const std::string& key) const {
  auto v = get(key);
  if (!v.isGenericDict()) throw Error("checkpoint " + path_.string() + ": '" + key + "' is not a dict");
  return v.toGenericDict();
}

Config Checkpoint::config(const std::vector<std::pair<std::string, std::string>>& overrides) const {
  return config_from_toml(get_string("config"), "config stored in " + path_.string(), overrides);
}

}  // namespace forgery
