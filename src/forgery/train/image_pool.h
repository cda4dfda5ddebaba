#pragma once
// The reference's image pool (Shrivastava et al.): D learns from a history of generated
// images, not only the latest. Until the pool holds `size` images, each new one is stored and
// passed on; then, with probability 1/2, a random stored image is passed on and the new one
// takes its place, else the new one is passed on. The draws come from LibTorch's CPU generator
// (the reference uses Python's random module), so a run's pool decisions are part of its
// random stream, and the pool's contents are part of its checkpoint: resume stays exact.
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <cstdint>
#include <vector>

namespace forgery {

class ImagePool {
 public:
  explicit ImagePool(int64_t size) : size_(size) {}
  // `fakes` [N, C, H, W] (detached here) -> the batch D sees. Size 0: `fakes` itself.
  at::Tensor query(const at::Tensor& fakes);
  int64_t size() const { return size_; }
  int64_t count() const { return static_cast<int64_t>(images_.size()); }

  // The stored images as one [count, C, H, W] tensor on the CPU (undefined when empty).
  at::Tensor state() const;
  void load(const at::Tensor& images, const c10::Device& device);

 private:
  int64_t size_;
  std::vector<at::Tensor> images_;  // each [1, C, H, W]
};

}  // namespace forgery
