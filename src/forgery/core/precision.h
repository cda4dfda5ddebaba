#pragma once
// The `precision` option: "fp32", or "bf16": matrix products and convolutions in bfloat16
// under LibTorch's autocast (on CPUs with AVX512-BF16 or AMX through oneDNN, and on CUDA),
// while weights, optimiser state, losses and the element-wise work between layers stay fp32.
#include <c10/core/Device.h>

#include <string>

namespace forgery {

enum class Precision { Fp32, Bf16 };
// UsageError naming `option` for anything but fp32 and bf16.
Precision parse_precision(const std::string& text, const std::string& option = "precision");

// Autocast to bfloat16 on `device` while alive (nothing for Fp32). Autocast keeps bf16 copies of
// the weights it casts; clear_cast_cache() drops them after an optimiser step changed the weights.
class AutocastScope {
 public:
  AutocastScope(const c10::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;
  static void clear_cast_cache();

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool was_enabled_ = false;
};

}  // namespace forgery
