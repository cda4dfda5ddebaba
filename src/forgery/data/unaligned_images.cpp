#include "forgery/data/unaligned_images.h"

#include <ATen/ATen.h>

#include "forgery/core/error.h"
#include "forgery/data/augment.h"
#include "forgery/data/tensor_dataset.h"

namespace forgery {

UnalignedImages::UnalignedImages(ImageData a, ImageData b, int64_t crop_size, bool flip)
    : a_(std::move(a)), b_(std::move(b)), crop_(crop_size), flip_(flip) {
  for (const ImageData* d : {&a_, &b_})
    if (d->pixels.size(2) < crop_ || d->pixels.size(3) < crop_)
      throw Error("images of " + std::to_string(d->pixels.size(3)) + "x" + std::to_string(d->pixels.size(2)) +
                  " are smaller than crop_size " + std::to_string(crop_));
}

Batch UnalignedImages::batch(const at::Tensor& index) {
  const int64_t n = index.size(0);
  at::Tensor a_index = index.remainder(a_.size());
  const at::Tensor b_index = to_device_async(at::randint(0, b_.size(), {n}, at::kLong), index.device());
  CropDraws da = draw_crops(n, a_.pixels.size(2), a_.pixels.size(3), crop_, flip_);
  CropDraws db = draw_crops(n, b_.pixels.size(2), b_.pixels.size(3), crop_, flip_);
  return {{"A", apply_crops(a_.pixels.index_select(0, a_index), da, crop_)},
          {"B", apply_crops(b_.pixels.index_select(0, b_index), db, crop_)}};
}

}  // namespace forgery
