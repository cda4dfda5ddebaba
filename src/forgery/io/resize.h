#pragma once
// Resizing 8-bit images with an antialiased bilinear (triangle) filter, separable, with
// half-pixel centres: the filter PIL's Image.resize(BILINEAR) and torchvision's Resize use,
// so Forgery's data matches the PyTorch programs' up to rounding. No torch here.
#include "forgery/io/image.h"

namespace forgery {

Image resize_image(const Image& image, int width, int height);
// Shorter side to `size` (the longer one scaled to keep the aspect ratio, truncated as
// torchvision does), then the centre `size` x `size` square.
Image resize_center_crop(const Image& image, int size);
// Grey from RGB with ITU-R 601-2 luma (as PIL's convert("L")), or RGB from grey by repetition.
Image convert_channels(const Image& image, int channels);

}  // namespace forgery
