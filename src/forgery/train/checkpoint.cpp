#include "forgery/train/checkpoint.h"

#include "forgery/core/error.h"
#include "forgery/train/options.h"

namespace forgery {

c10::impl::GenericDict make_dict() { return c10::impl::GenericDict(c10::StringType::get(), c10::AnyType::get()); }

namespace {

c10::impl::GenericDict prefixed(const c10::IValue& dict, const std::string& prefix) {
  auto out = make_dict();
  for (const auto& e : dict.toGenericDict()) out.insert(prefix + e.key().toStringRef(), e.value());
  return out;
}

// Format 1 (one G, one D, fixed field names) to format 2 (everything by name).
c10::impl::GenericDict upgrade_v1(const c10::impl::GenericDict& v1, const std::string& what) {
  auto at = [&](const char* key) {
    auto it = v1.find(c10::IValue(std::string(key)));
    if (it == v1.end()) throw Error(what + " lacks '" + key + "' (corrupt or from another tool)");
    return it->value();
  };
  auto has = [&](const char* key) { return v1.contains(c10::IValue(std::string(key))); };
  auto d = make_dict();
  for (const char* key : {"format", "recipe", "model", "config", "epoch", "global_step", "batch_in_epoch", "rng"})
    d.insert(key, at(key));
  d.insert("version", kCheckpointVersion);
  auto networks = make_dict();
  networks.insert("generator", at("generator"));
  networks.insert("discriminator", at("discriminator"));
  d.insert("networks", networks);
  auto optimizers = make_dict();
  optimizers.insert("G", prefixed(at("optimizer_g"), "generator."));
  optimizers.insert("D", prefixed(at("optimizer_d"), "discriminator."));
  d.insert("optimizers", optimizers);
  auto recipe_state = make_dict();
  recipe_state.insert("fixed_noise", at("fixed_noise"));
  if (has("class_names")) recipe_state.insert("class_names", at("class_names"));
  d.insert("recipe_state", recipe_state);
  d.insert("best_metric", std::string("fid"));
  d.insert("best_value", has("best_fid") ? at("best_fid") : c10::IValue(-1.0));
  d.insert("best_epoch", has("best_epoch") ? at("best_epoch") : c10::IValue(int64_t{0}));
  if (at("batch_in_epoch").toInt() > 0) {
    auto es = make_dict(), sums = make_dict(), counts = make_dict();
    es.insert("permutation", at("permutation"));
    for (const char* loss : {"loss_g", "loss_d", "d_real", "d_fake"}) sums.insert(loss, at(("sum_" + std::string(loss)).c_str()));
    counts.insert("loss_g", at("g_steps"));
    for (const char* loss : {"loss_d", "d_real", "d_fake"}) counts.insert(loss, at("d_steps"));
    es.insert("sums", sums);
    es.insert("counts", counts);
    es.insert("images", at("images"));
    es.insert("seconds", at("seconds"));
    d.insert("epoch_state", es);
  }
  return d;
}

}  // namespace

bool Checkpoint::is_checkpoint(const c10::IValue& value) {
  if (!value.isGenericDict()) return false;
  const auto d = value.toGenericDict();
  const auto it = d.find(c10::IValue(std::string("format")));
  return it != d.end() && it->value().isString() && it->value().toStringRef() == kCheckpointFormat;
}

Checkpoint Checkpoint::read(const std::filesystem::path& path) { return from_value(load_torch_file(path), path); }

Checkpoint Checkpoint::from_value(const c10::IValue& v, const std::filesystem::path& path) {
  Checkpoint c;
  c.path_ = path;
  if (!v.isGenericDict()) throw Error("checkpoint " + path.string() + " is not a Forgery checkpoint (no dict)");
  c.dict_ = v.toGenericDict();
  if (!c.has("format") || !c.get("format").isString() || c.get_string("format") != kCheckpointFormat)
    throw Error("checkpoint " + path.string() + " is not a Forgery checkpoint (a plain state_dict? "
                "use --init-from for weights saved by Python)");
  c.file_version_ = c.get_int("version");
  if (c.file_version_ > kCheckpointVersion)
    throw Error("checkpoint " + path.string() + " was written by a newer Forgery (format version " +
                std::to_string(c.file_version_) + ")");
  if (c.file_version_ < 1) throw Error("checkpoint " + path.string() + " has an unknown format version");
  if (c.file_version_ == 1) c.dict_ = upgrade_v1(c.dict_, c.what());
  return c;
}

std::filesystem::path Checkpoint::locate(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) throw Error(p.string() + " does not exist");
  if (!std::filesystem::is_directory(p, ec)) return p;
  auto last = p / "checkpoints" / "last.pt";
  if (!std::filesystem::exists(last, ec))
    throw Error(p.string() + " has no checkpoints/last.pt: not a Forgery run folder, or the run "
                "was killed before its first checkpoint (nothing to resume: train it again; --force "
                "replaces the folder)");
  return last;
}

std::string Checkpoint::what() const { return "checkpoint " + path_.string(); }

bool Checkpoint::has(const std::string& key) const { return dict_.contains(c10::IValue(key)); }

c10::IValue Checkpoint::get(const std::string& key) const {
  auto it = dict_.find(c10::IValue(key));
  if (it == dict_.end()) throw Error(what() + " lacks '" + key + "' (corrupt or from another tool)");
  return it->value();
}

bool Checkpoint::has(const std::string& key, const std::string& name) const {
  if (!has(key)) return false;
  auto v = get(key);
  return v.isGenericDict() && v.toGenericDict().contains(c10::IValue(name));
}

c10::IValue Checkpoint::get(const std::string& key, const std::string& name) const {
  auto dict = get_dict(key);
  auto it = dict.find(c10::IValue(name));
  if (it == dict.end()) throw Error(what() + " lacks '" + key + "/" + name + "' (corrupt or from another tool)");
  return it->value();
}

int64_t Checkpoint::get_int(const std::string& key) const {
  auto v = get(key);
  if (!v.isInt()) throw Error(what() + ": '" + key + "' is not an integer");
  return v.toInt();
}
double Checkpoint::get_float(const std::string& key) const {
  auto v = get(key);
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (!v.isDouble()) throw Error(what() + ": '" + key + "' is not a number");
  return v.toDouble();
}
std::string Checkpoint::get_string(const std::string& key) const {
  auto v = get(key);
  if (!v.isString()) throw Error(what() + ": '" + key + "' is not a string");
  return v.toStringRef();
}
at::Tensor Checkpoint::get_tensor(const std::string& key) const {
  auto v = get(key);
  if (!v.isTensor()) throw Error(what() + ": '" + key + "' is not a tensor");
  return v.toTensor();
}
NamedTensors Checkpoint::get_tensors(const std::string& key) const {
  return tensors_of(get(key), what() + " entry '" + key + "'");
}
NamedTensors Checkpoint::get_tensors(const std::string& key, const std::string& name) const {
  return tensors_of(get(key, name), what() + " entry '" + key + "/" + name + "'");
}
c10::impl::GenericDict Checkpoint::get_dict(const std::string& key) const {
  auto v = get(key);
  if (!v.isGenericDict()) throw Error(what() + ": '" + key + "' is not a dict");
  return v.toGenericDict();
}

NamedTensors Checkpoint::network(const std::string& name) const {
  if (!has("networks", name)) {
    std::string known;
    if (has("networks"))
      for (const auto& e : get_dict("networks")) known += (known.empty() ? "" : ", ") + e.key().toStringRef();
    throw Error(what() + " has no network '" + name + "' (it has: " + (known.empty() ? "none" : known) + ")");
  }
  return get_tensors("networks", name);
}

NamedTensors Checkpoint::generator(const std::string& name, bool average, bool* used_average) const {
  const bool use = average && has("ema", name);
  if (used_average) *used_average = use;
  return use ? get_tensors("ema", name) : network(name);
}

Config Checkpoint::config(const std::vector<std::pair<std::string, std::string>>& overrides) const {
  return config_from_toml(get_string("config"), "config stored in " + path_.string(), overrides);
}

Checkpoint Checkpoint::with_entry(const std::string& key, const c10::IValue& value) const {
  Checkpoint c = *this;
  c.dict_ = dict_.copy();
  c.dict_.insert_or_assign(key, value);
  return c;
}

}  // namespace forgery
