#pragma once
// Resizing 8-bit images exactly as PIL's Image.resize does (which torchvision's Resize uses on
// PIL images): a separable filter widened when shrinking (antialiased), half-pixel centres,
// coefficients in 22-bit fixed point, a horizontal pass rounded to 8 bits, then a vertical
// one. Bilinear for the GAN family's data, bicubic (a = -0.5) for pix2pix and CycleGAN, as
// the reference implementation's transforms use. No torch here.
#include "forgery/io/image.h"

namespace forgery {

enum class ResampleFilter { Bilinear, Bicubic };

Image resize_image(const Image& image, int width, int height, ResampleFilter filter = ResampleFilter::Bilinear);
// Shorter side to `size` (the longer one scaled to keep the aspect ratio, truncated as
// torchvision does), then the centre `size` x `size` square.
Image resize_center_crop(const Image& image, int size, ResampleFilter filter = ResampleFilter::Bilinear);
// Grey from RGB with ITU-R 601-2 luma (as PIL's convert("L")), or RGB from grey by repetition.
Image convert_channels(const Image& image, int channels);
// The rectangle at (left, top) of the given size; errors when it does not fit.
Image crop_image(const Image& image, int left, int top, int width, int height);

}  // namespace forgery
