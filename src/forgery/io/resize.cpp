#include "forgery/io/resize.h"

#include <algorithm>
#include <cmath>

#include "forgery/core/error.h"

namespace forgery {

namespace {
// For each output index: the first input index and the normalised weights of its taps.
struct Taps {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<float> weights;  // out_size * max_taps
  int max_taps = 0;
};

Taps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);  // widen the filter when shrinking
  const double support = filter_scale;               // the triangle's support is 1
  Taps t;
  t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.max_taps, 0.f);
  for (int x = 0; x < out_size; ++x) {
    const double centre = (x + 0.5) * scale;
    int lo = std::max(static_cast<int>(centre - support + 0.5), 0);
    int hi = std::min(static_cast<int>(centre + support + 0.5), in_size);
    hi = std::min(hi, lo + t.max_taps);
    double total = 0;
    std::vector<double> w(hi - lo);
    for (int i = lo; i < hi; ++i) {
      double d = std::abs((i - centre + 0.5) / filter_scale);
      w[i - lo] = d < 1 ? 1 - d : 0;
      total += w[i - lo];
    }
    t.first[x] = lo;
    t.count[x] = hi - lo;
    for (int i = 0; i < hi - lo; ++i)
      t.weights[static_cast<size_t>(x) * t.max_taps + i] = static_cast<float>(total > 0 ? w[i] / total : 0);
  }
  return t;
}
}  // namespace

Image resize_image(const Image& in, int width, int height) {
  if (width <= 0 || height <= 0 || in.width <= 0 || in.height <= 0)
    throw Error("cannot resize an empty image");
  if (width == in.width && height == in.height) return in;
  const int c = in.channels;
  Taps tx = make_taps(in.width, width), ty = make_taps(in.height, height);
  // Horizontal pass into floats, then vertical pass with rounding.
  std::vector<float> mid(static_cast<size_t>(in.height) * width * c);
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* row = in.pixels.data() + static_cast<size_t>(y) * in.width * c;
    float* out = mid.data() + static_cast<size_t>(y) * width * c;
    for (int x = 0; x < width; ++x) {
      const float* w = tx.weights.data() + static_cast<size_t>(x) * tx.max_taps;
      for (int ch = 0; ch < c; ++ch) {
        float acc = 0;
        for (int i = 0; i < tx.count[x]; ++i) acc += w[i] * row[(tx.first[x] + i) * c + ch];
        out[x * c + ch] = acc;
      }
    }
  }
  Image out;
  out.width = width;
  out.height = height;
  out.channels = c;
  out.pixels.resize(static_cast<size_t>(width) * height * c);
  const size_t stride = static_cast<size_t>(width) * c;
  for (int y = 0; y < height; ++y) {
    const float* w = ty.weights.data() + static_cast<size_t>(y) * ty.max_taps;
    uint8_t* dst = out.pixels.data() + y * stride;
    for (size_t j = 0; j < stride; ++j) {
      float acc = 0;
      for (int i = 0; i < ty.count[y]; ++i) acc += w[i] * mid[(ty.first[y] + i) * stride + j];
      dst[j] = static_cast<uint8_t>(std::clamp(std::lround(acc), 0L, 255L));
    }
  }
  return out;
}

Image resize_center_crop(const Image& in, int size) {
  if (size <= 0) throw Error("cannot resize to a size of " + std::to_string(size));
  int w = size, h = size;
  if (in.width < in.height) h = static_cast<int>(static_cast<int64_t>(size) * in.height / in.width);
  else if (in.height < in.width) w = static_cast<int>(static_cast<int64_t>(size) * in.width / in.height);
  Image r = resize_image(in, w, h);
  if (w == size && h == size) return r;
  // Python's round (half to even), as torchvision's CenterCrop computes the offsets.
  const int top = static_cast<int>(std::nearbyint((h - size) / 2.0)), left = static_cast<int>(std::nearbyint((w - size) / 2.0));
  Image out;
  out.width = out.height = size;
  out.channels = r.channels;
  out.pixels.resize(static_cast<size_t>(size) * size * r.channels);
  const size_t row = static_cast<size_t>(size) * r.channels;
  for (int y = 0; y < size; ++y)
    std::copy_n(r.pixels.data() + (static_cast<size_t>(top + y) * w + left) * r.channels, row,
                out.pixels.data() + y * row);
  return out;
}

Image convert_channels(const Image& in, int channels) {
  if (in.channels == channels) return in;
  Image out;
  out.width = in.width;
  out.height = in.height;
  out.channels = channels;
  const size_t n = static_cast<size_t>(in.width) * in.height;
  out.pixels.resize(n * channels);
  if (in.channels == 3 && channels == 1) {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = in.pixels.data() + 3 * i;
      // PIL's integer form of L = R*299/1000 + G*587/1000 + B*114/1000, rounded.
      out.pixels[i] = static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
  } else if (in.channels == 1 && channels == 3) {
    for (size_t i = 0; i < n; ++i) out.pixels[3 * i] = out.pixels[3 * i + 1] = out.pixels[3 * i + 2] = in.pixels[i];
  } else {
    throw Error("cannot convert an image with " + std::to_string(in.channels) + " channels to " +
                std::to_string(channels));
  }
  return out;
}

}  // namespace forgery
