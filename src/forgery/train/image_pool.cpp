#include "forgery/train/image_pool.h"

#include <ATen/ATen.h>

#include "forgery/core/error.h"

namespace forgery {

at::Tensor ImagePool::query(const at::Tensor& fakes) {
  if (size_ == 0) return fakes;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < fakes.size(0); ++i) {
    at::Tensor image = fakes.narrow(0, i, 1).detach();
    if (count() < size_) {
      images_.push_back(image);
      out.push_back(image);
    } else if (at::rand({1}, at::kDouble).item<double>() > 0.5) {
      const int64_t k = at::randint(0, size_, {1}, at::kLong).item<int64_t>();
      out.push_back(images_[k].clone());
      images_[k] = image;
    } else {
      out.push_back(image);
    }
  }
  return at::cat(out, 0);
}

at::Tensor ImagePool::state() const {
  if (images_.empty()) return {};
  return at::cat(images_, 0).cpu();
}

void ImagePool::load(const at::Tensor& images, const c10::Device& device) {
  images_.clear();
  if (!images.defined()) return;
  if (images.size(0) > size_)
    throw Error("image pool in the checkpoint holds " + std::to_string(images.size(0)) + " images, more than pool_size " +
                std::to_string(size_));
  for (int64_t i = 0; i < images.size(0); ++i) images_.push_back(images.narrow(0, i, 1).to(device).clone());
}

}  // namespace forgery
