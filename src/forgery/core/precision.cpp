#include "forgery/core/precision.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include "forgery/core/error.h"

namespace forgery {

Precision parse_precision(const std::string& text, const std::string& option) {
  if (text == "fp32") return Precision::Fp32;
  if (text == "tf32") return Precision::Tf32;
  if (text == "bf16") return Precision::Bf16;
  throw UsageError("option " + option + " '" + text + "': expected fp32, tf32 or bf16");
}

void apply_precision(const c10::Device& device, Precision precision) {
  if (!device.is_cuda()) return;
  at::globalContext().setAllowTF32CuBLAS(precision == Precision::Tf32);
  at::globalContext().setAllowTF32CuDNN(precision == Precision::Tf32);
}

// LibTorch 2.4 moved autocast to device-type arguments; 1.13 has one call per device kind.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define FORGERY_AUTOCAST_BY_DEVICE 1
#endif

AutocastScope::AutocastScope(const c10::Device& device, Precision precision) {
  if (precision != Precision::Bf16) return;
  active_ = true;
  cuda_ = device.is_cuda();
#ifdef FORGERY_AUTOCAST_BY_DEVICE
  const auto type = cuda_ ? at::kCUDA : at::kCPU;
  was_enabled_ = at::autocast::is_autocast_enabled(type);
  at::autocast::set_autocast_dtype(type, at::kBFloat16);
  at::autocast::set_autocast_enabled(type, true);
#else
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef FORGERY_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(cuda_ ? at::kCUDA : at::kCPU, was_enabled_);
#else
  if (cuda_) at::autocast::set_enabled(was_enabled_);
  else at::autocast::set_cpu_enabled(was_enabled_);
#endif
}

void AutocastScope::clear_cast_cache() { at::autocast::clear_cache(); }

}  // namespace forgery
