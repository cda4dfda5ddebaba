#pragma once
// Image tensors to 8-bit images, and torchvision's make_grid layout.
#include <ATen/core/Tensor.h>

#include "forgery/io/image.h"

namespace forgery {

// [-1, 1] (tanh output) to [0, 1].
at::Tensor to_unit_range(const at::Tensor& images);
// One [C,H,W] tensor in [0,1] to an Image (rounded as torchvision's save_image does).
Image tensor_to_image(const at::Tensor& chw);
// [N,C,H,W] in [0,1]: `nrow` images per row, `padding` pixels between and around them.
Image make_grid(const at::Tensor& images, int nrow = 8, int padding = 2, float pad_value = 0.f);

}  // namespace forgery
