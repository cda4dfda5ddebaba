#include "forgery/eval/image_quality.h"

#include <ATen/ATen.h>

#include <sstream>

#include "forgery/core/error.h"

namespace forgery {

namespace {
at::Tensor as_double(const at::Tensor& t) { return t.to(at::kDouble).cpu(); }

void check_pair(const at::Tensor& a, const at::Tensor& b) {
  if (a.dim() != 4 || a.sizes() != b.sizes()) {
    std::ostringstream o;
    o << "paired images must have the same [N, C, H, W] shape, got " << a.sizes() << " and " << b.sizes();
    throw Error(o.str());
  }
}

constexpr int kWindow = 11;
constexpr double kSigma = 1.5;

at::Tensor gaussian_window(int64_t channels) {
  auto x = at::arange(kWindow, at::kDouble) - (kWindow - 1) / 2.0;
  auto g = at::exp(-(x * x) / (2 * kSigma * kSigma));
  g = g / g.sum();
  return at::outer(g, g).view({1, 1, kWindow, kWindow}).expand({channels, 1, kWindow, kWindow}).contiguous();
}
}  // namespace

at::Tensor l1_per_image(const at::Tensor& output, const at::Tensor& target) {
  check_pair(output, target);
  return (as_double(output) - as_double(target)).abs().flatten(1).mean(1);
}

at::Tensor psnr_per_image(const at::Tensor& output, const at::Tensor& target) {
  check_pair(output, target);
  auto mse = (as_double(output) - as_double(target)).pow(2).flatten(1).mean(1);
  return at::where(mse > 0, -10.0 * at::log10(mse.clamp_min(1e-300)), at::full_like(mse, 100.0));
}

at::Tensor ssim_per_image(const at::Tensor& output, const at::Tensor& target) {
  check_pair(output, target);
  if (output.size(2) < kWindow || output.size(3) < kWindow)
    throw Error("SSIM needs images of at least 11x11 pixels, got " + std::to_string(output.size(3)) + "x" +
                std::to_string(output.size(2)));
  const int64_t c = output.size(1);
  auto x = as_double(output), y = as_double(target);
  auto w = gaussian_window(c);
  const std::vector<int64_t> one = {1, 1}, zero = {0, 0};
  auto filter = [&](const at::Tensor& t) {
    return at::conv2d(t, w, at::Tensor(), at::IntArrayRef(one), at::IntArrayRef(zero), at::IntArrayRef(one), c);
  };
  auto mx = filter(x), my = filter(y);
  auto sxx = filter(x * x) - mx * mx, syy = filter(y * y) - my * my, sxy = filter(x * y) - mx * my;
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  auto map = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.flatten(1).mean(1);
}

PairedScores paired_scores(const at::Tensor& output, const at::Tensor& target) {
  PairedScores s;
  s.count = output.size(0);
  s.l1 = l1_per_image(output, target).mean().item<double>();
  s.psnr = psnr_per_image(output, target).mean().item<double>();
  s.ssim = ssim_per_image(output, target).mean().item<double>();
  return s;
}

}  // namespace forgery
