#include "forgery/data/augment.h"

#include <ATen/ATen.h>

#include <vector>

#include "forgery/data/tensor_dataset.h"

namespace forgery {

CropDraws draw_crops(int64_t n, int64_t height, int64_t width, int64_t crop, bool flip) {
  CropDraws d;
  d.x = at::randint(0, width - crop + 1, {n}, at::kLong);
  d.y = at::randint(0, height - crop + 1, {n}, at::kLong);
  d.flip = flip ? at::rand({n}) < 0.5 : at::zeros({n}, at::kBool);
  return d;
}

at::Tensor apply_crops(const at::Tensor& images, const CropDraws& d, int64_t crop) {
  auto x = d.x.accessor<int64_t, 1>(), y = d.y.accessor<int64_t, 1>();
  auto f = d.flip.accessor<bool, 1>();
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    at::Tensor c = images[i].narrow(1, y[i], crop).narrow(2, x[i], crop);
    out.push_back(f[i] ? c.flip({2}) : c);
  }
  return normalize_bytes(at::stack(out));
}

}  // namespace forgery
