#include "forgery/io/resize.h"

#include <algorithm>
#include <cmath>

#include "forgery/core/error.h"

namespace forgery {

namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed point for 8-bit images

double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
double bicubic(double x) {  // a = -0.5
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output index: the first input index, the number of taps and their fixed-point
// weights (PIL's precompute_coeffs and normalize_coeffs_8bpc).
struct Taps {
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // out_size * ksize
  int ksize = 0;
};

Taps make_taps(int in_size, int out_size, ResampleFilter kind) {
  double (*filter)(double) = kind == ResampleFilter::Bicubic ? bicubic : bilinear;
  const double filter_support = kind == ResampleFilter::Bicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // widen the filter when shrinking
  const double support = filter_support * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = filter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double scaled = k[x] * (1 << kPrecisionBits);
      t.weights[static_cast<size_t>(xx) * t.ksize + x] = static_cast<int32_t>(k[x] < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

inline uint8_t clip8(int64_t v) {
  v >>= kPrecisionBits;  // arithmetic: floor
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}
}  // namespace

Image resize_image(const Image& in, int width, int height, ResampleFilter filter) {
  if (width <= 0 || height <= 0 || in.width <= 0 || in.height <= 0)
    throw Error("cannot resize an empty image");
  if (width == in.width && height == in.height) return in;
  const int c = in.channels;
  Image cur = in;
  if (width != in.width) {  // horizontal pass
    Taps tx = make_taps(in.width, width, filter);
    Image out;
    out.width = width;
    out.height = in.height;
    out.channels = c;
    out.pixels.resize(static_cast<size_t>(width) * in.height * c);
    for (int y = 0; y < in.height; ++y) {
      const uint8_t* row = in.pixels.data() + static_cast<size_t>(y) * in.width * c;
      uint8_t* dst = out.pixels.data() + static_cast<size_t>(y) * width * c;
      for (int x = 0; x < width; ++x) {
        const int32_t* w = tx.weights.data() + static_cast<size_t>(x) * tx.ksize;
        const uint8_t* src = row + static_cast<size_t>(tx.first[x]) * c;
        for (int ch = 0; ch < c; ++ch) {
          int64_t acc = int64_t{1} << (kPrecisionBits - 1);
          for (int i = 0; i < tx.count[x]; ++i) acc += static_cast<int64_t>(src[i * c + ch]) * w[i];
          dst[x * c + ch] = clip8(acc);
        }
      }
    }
    cur = std::move(out);
  }
  if (height != cur.height) {  // vertical pass
    Taps ty = make_taps(cur.height, height, filter);
    Image out;
    out.width = cur.width;
    out.height = height;
    out.channels = c;
    const size_t stride = static_cast<size_t>(cur.width) * c;
    out.pixels.resize(stride * height);
    for (int y = 0; y < height; ++y) {
      const int32_t* w = ty.weights.data() + static_cast<size_t>(y) * ty.ksize;
      uint8_t* dst = out.pixels.data() + y * stride;
      for (size_t j = 0; j < stride; ++j) {
        int64_t acc = int64_t{1} << (kPrecisionBits - 1);
        for (int i = 0; i < ty.count[y]; ++i) acc += static_cast<int64_t>(cur.pixels[(ty.first[y] + i) * stride + j]) * w[i];
        dst[j] = clip8(acc);
      }
    }
    cur = std::move(out);
  }
  return cur;
}

Image resize_center_crop(const Image& in, int size, ResampleFilter filter) {
  if (size <= 0) throw Error("cannot resize to a size of " + std::to_string(size));
  int w = size, h = size;
  if (in.width < in.height) h = static_cast<int>(static_cast<int64_t>(size) * in.height / in.width);
  else if (in.height < in.width) w = static_cast<int>(static_cast<int64_t>(size) * in.width / in.height);
  Image r = resize_image(in, w, h, filter);
  if (w == size && h == size) return r;
  // Python's round (half to even), as torchvision's CenterCrop computes the offsets.
  const int top = static_cast<int>(std::nearbyint((h - size) / 2.0)), left = static_cast<int>(std::nearbyint((w - size) / 2.0));
  return crop_image(r, left, top, size, size);
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

Image crop_image(const Image& in, int left, int top, int width, int height) {
  if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > in.width || top + height > in.height)
    throw Error("cannot crop " + std::to_string(width) + "x" + std::to_string(height) + " at (" + std::to_string(left) +
                ", " + std::to_string(top) + ") from a " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                " image");
  Image out;
  out.width = width;
  out.height = height;
  out.channels = in.channels;
  const size_t row = static_cast<size_t>(width) * in.channels;
  out.pixels.resize(row * height);
  for (int y = 0; y < height; ++y)
    std::copy_n(in.pixels.data() + (static_cast<size_t>(top + y) * in.width + left) * in.channels, row,
                out.pixels.data() + y * row);
  return out;
}

}  // namespace forgery
