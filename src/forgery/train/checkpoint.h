#pragma once
// Reading Forgery checkpoints (a torch.save-compatible dict; Python's torch.load reads them).
#include <ATen/core/ivalue.h>

#include <filesystem>
#include <string>

#include "forgery/core/config.h"
#include "forgery/io/torch_file.h"

namespace forgery {

inline constexpr const char* kCheckpointFormat = "forgery-checkpoint";
inline constexpr int64_t kCheckpointVersion = 1;

class Checkpoint {
 public:
  static Checkpoint read(const std::filesystem::path& path);
  // RUN_DIR -> RUN_DIR/checkpoints/last.pt; a file is itself. Errors say what is missing.
  static std::filesystem::path locate(const std::filesystem::path& run_dir_or_file);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  at::Tensor get_tensor(const std::string& key) const;
  NamedTensors get_tensors(const std::string& key) const;
  c10::impl::GenericDict get_dict(const std::string& key) const;
  const std::filesystem::path& path() const { return path_; }
  // The run's config as stored, with optional overrides.
  Config config(const std::vector<std::pair<std::string, std::string>>& overrides = {}) const;

 private:
  c10::IValue get(const std::string& key) const;
  std::filesystem::path path_;
  c10::impl::GenericDict dict_{c10::AnyType::get(), c10::AnyType::get()};
};

}  // namespace forgery
