#pragma once
// The `precision` option: "fp32"; "tf32": fp32 tensors whose matrix products and convolutions
// run on CUDA's TF32 tensor cores (10-bit mantissas in the products; the same as fp32 on CPUs);
// or "bf16": matrix products and convolutions in bfloat16 under LibTorch's autocast (on CPUs
// with AVX512-BF16 or AMX through oneDNN, and on CUDA), while weights, optimiser state, losses
// and the element-wise work between layers stay fp32.
#include <c10/core/Device.h>

#include <string>

namespace forgery {

enum class Precision { Fp32, Tf32, Bf16 };
// UsageError naming `option` for anything but fp32, tf32 and bf16.
Precision parse_precision(const std::string& text, const std::string& option = "precision");

// The process-wide TF32 switches of cuBLAS and cuDNN for a run on `device`: on for tf32, off
// otherwise (LibTorch's own default lets cuDNN's convolutions use TF32 even in "fp32"; here fp32
// means fp32). Nothing on CPUs.
void apply_precision(const c10::Device& device, Precision precision);

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
