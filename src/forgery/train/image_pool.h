#pragma once
// The reference's image pool (Shrivastava et al.): D learns from a history of generated
// images, not only the latest. Until the pool holds `size` images, each new one is stored and
// passed on; then, with probability 1/2, a random stored image is passed on and the new one
// takes its place, else the new one is passed on. The draws come from LibTorch's CPU generator
// (the reference uses Python's random module), so a run's pool decisions are part of its
// random stream, and the pool's contents are part of its checkpoint: resume stays exact.
//
// The stored images live in one tensor on the training device. Once the pool is full, a query
// is device work only, given its draws as a tensor (draws(), then apply()): a CUDA graph can
// capture it, the draws being one of the graph's inputs.
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

#include <cstdint>

namespace forgery {

class ImagePool {
 public:
  explicit ImagePool(int64_t size) : size_(size) {}
  // `fakes` [N, C, H, W] (detached here) -> the batch D sees. Size 0: `fakes` itself.
  at::Tensor query(const at::Tensor& fakes);
  int64_t size() const { return size_; }
  int64_t count() const { return count_; }
  // Whether a query is device work only (a full pool, or none): draws() and apply() serve it.
  bool full() const { return count_ == size_; }

  // A full pool's draws for a query of `n` images, from the CPU generator in the order query()
  // makes them: [n, 2] int64 on the CPU, each row (1 if a stored image is passed on, else 0;
  // which one, 0 when none).
  at::Tensor draws(int64_t n) const;
  // A full pool's query with those draws (on the pool's device, or the CPU).
  at::Tensor apply(const at::Tensor& fakes, const at::Tensor& draws);

  // The stored images as one [count, C, H, W] tensor on the CPU (undefined when empty).
  at::Tensor state() const;
  void load(const at::Tensor& images, const c10::Device& device);

 private:
  void store(const at::Tensor& image);  // [1, C, H, W], while the pool fills
  int64_t size_;
  int64_t count_ = 0;
  at::Tensor images_;  // [size, C, H, W] once the first image came, the first count_ in use
};

}  // namespace forgery
