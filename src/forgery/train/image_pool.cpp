#include "forgery/train/image_pool.h"

#include <ATen/ATen.h>

#include <vector>

#include "forgery/core/error.h"
#include "forgery/data/tensor_dataset.h"

namespace forgery {

void ImagePool::store(const at::Tensor& image) {
  if (!images_.defined()) {
    std::vector<int64_t> shape = image.sizes().vec();
    shape[0] = size_;
    images_ = at::empty(shape, image.options());
  }
  images_.narrow(0, count_++, 1).copy_(image);
}

at::Tensor ImagePool::query(const at::Tensor& fakes) {
  if (size_ == 0) return fakes;
  const at::Tensor images = fakes.detach();
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const at::Tensor image = images.narrow(0, i, 1);
    if (count_ < size_) {
      store(image);
      out.push_back(image);
    } else {
      out.push_back(apply(image, to_device_async(draws(1), image.device())));
    }
  }
  return at::cat(out, 0);
}

at::Tensor ImagePool::draws(int64_t n) const {
  at::Tensor d = at::zeros({n, 2}, at::kLong);
  auto a = d.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i)
    if (at::rand({1}, at::kDouble).item<double>() > 0.5) {
      a[i][0] = 1;
      a[i][1] = at::randint(0, size_, {1}, at::kLong).item<int64_t>();
    }
  return d;
}

at::Tensor ImagePool::apply(const at::Tensor& fakes, const at::Tensor& draws) {
  if (size_ == 0) return fakes;
  if (!full()) throw std::logic_error("ImagePool::apply before the pool is full");
  const at::Tensor images = fakes.detach().to(images_.scalar_type());
  const at::Tensor slots = at::arange(size_, draws.options()).view({-1, 1, 1, 1});
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    // Both ways computed, one kept: no host decision, so that a graph can replay it. The
    // exchange is a masked write of the whole pool rather than index_copy_, whose deterministic
    // form on CUDA reads the index's range on the host (no capture, a wait per step).
    const at::Tensor image = images.narrow(0, i, 1);
    const at::Tensor use = draws[i][0].to(at::kBool);
    const at::Tensor which = draws[i].narrow(0, 1, 1);
    out.push_back(at::where(use, images_.index_select(0, which), image));
    images_.copy_(at::where(slots.eq(which).logical_and_(use), image, images_));
  }
  return at::cat(out, 0);
}

at::Tensor ImagePool::state() const {
  if (count_ == 0) return {};
  const at::Tensor kept = images_.narrow(0, 0, count_);
  return kept.is_cpu() ? kept.clone() : kept.cpu();
}

void ImagePool::load(const at::Tensor& images, const c10::Device& device) {
  images_ = at::Tensor();
  count_ = 0;
  if (!images.defined()) return;
  if (images.size(0) > size_)
    throw Error("image pool in the checkpoint holds " + std::to_string(images.size(0)) + " images, more than pool_size " +
                std::to_string(size_));
  const at::Tensor on_device = images.to(device);
  for (int64_t i = 0; i < on_device.size(0); ++i) store(on_device.narrow(0, i, 1));
}

}  // namespace forgery
