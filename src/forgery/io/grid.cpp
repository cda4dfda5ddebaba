#include "forgery/io/grid.h"

#include <cstring>

#include "forgery/core/error.h"

namespace forgery {

at::Tensor to_unit_range(const at::Tensor& images) {
  return images.detach().add(1.0).div_(2.0).clamp_(0.0, 1.0);
}

Image tensor_to_image(const at::Tensor& chw) {
  TORCH_CHECK(chw.dim() == 3, "tensor_to_image expects [C,H,W]");
  auto c = chw.size(0);
  if (c != 1 && c != 3) throw Error("images must have 1 or 3 channels, got " + std::to_string(c));
  // x * 255 + 0.5, clamped and truncated: torchvision's save_image rounding.
  auto bytes = chw.detach().to(torch::kCPU, torch::kFloat32).mul(255).add_(0.5).clamp_(0, 255)
                   .to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  Image im;
  im.channels = static_cast<int>(c);
  im.height = static_cast<int>(chw.size(1));
  im.width = static_cast<int>(chw.size(2));
  im.pixels.resize(bytes.numel());
  std::memcpy(im.pixels.data(), bytes.data_ptr<uint8_t>(), im.pixels.size());
  return im;
}

Image make_grid(const at::Tensor& images, int nrow, int padding, float pad_value) {
  TORCH_CHECK(images.dim() == 4, "make_grid expects [N,C,H,W]");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = std::min<int64_t>(nrow, n), rows = (n + cols - 1) / cols;
  const int64_t cell_h = h + padding, cell_w = w + padding;
  auto grid = torch::full({c, rows * cell_h + padding, cols * cell_w + padding}, pad_value);
  auto src = images.detach().to(torch::kCPU, torch::kFloat32);
  for (int64_t k = 0; k < n; ++k) {
    int64_t y = k / cols, x = k % cols;
    grid.narrow(1, y * cell_h + padding, h).narrow(2, x * cell_w + padding, w).copy_(src[k]);
  }
  return tensor_to_image(grid);
}

}  // namespace forgery
