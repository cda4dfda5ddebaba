#pragma once
// Paired image quality: how close translated images are to their targets (pix2pix's val and
// test sets). Images are [N, C, H, W] in [0, 1] (8-bit images / 255); every score is the mean
// over images of a per-image value, in float64.
//   l1    mean absolute difference
//   psnr  10 log10(1 / MSE) in dB (identical images count as 100 dB)
//   ssim  structural similarity (Wang et al. 2004): an 11x11 Gaussian window with sigma 1.5,
//         C1 = 0.01^2, C2 = 0.03^2, over the positions where the window fits (as the
//         paper's own code), averaged over positions and channels
// Golden-tested against a NumPy/SciPy implementation (tests/fixtures/make_fixtures.py).
#include <ATen/core/Tensor.h>

namespace forgery {

struct PairedScores {
  double l1 = 0, psnr = 0, ssim = 0;
  int64_t count = 0;
};

// Per image: [N] float64.
at::Tensor l1_per_image(const at::Tensor& output, const at::Tensor& target);
at::Tensor psnr_per_image(const at::Tensor& output, const at::Tensor& target);
at::Tensor ssim_per_image(const at::Tensor& output, const at::Tensor& target);
// The three means; errors for different shapes or images smaller than the SSIM window.
PairedScores paired_scores(const at::Tensor& output, const at::Tensor& target);

}  // namespace forgery
