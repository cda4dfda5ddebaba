#pragma once
// The translation references' random augmentation, on whole batches of cached uint8 images on
// the training device: a random crop_size square and a random left-right flip per image,
// drawn from LibTorch's CPU generator (so a run is the same on every device and resumes
// exactly).
#include <ATen/core/Tensor.h>

namespace forgery {

struct CropDraws {
  at::Tensor x, y, flip;  // [n] int64, int64, bool, on the CPU
};

// For each of n images of height x width: the crop's left and top (x drawn first, then y, as
// the reference draws them) and, with `flip`, whether it is mirrored (probability 1/2).
CropDraws draw_crops(int64_t n, int64_t height, int64_t width, int64_t crop, bool flip);
// images [n, C, H, W] uint8 -> the crops as floats in [-1, 1] (x / 127.5 - 1, torchvision's
// ToTensor + Normalize(0.5, 0.5)).
at::Tensor apply_crops(const at::Tensor& images, const CropDraws& draws, int64_t crop);

}  // namespace forgery
