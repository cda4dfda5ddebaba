#pragma once
// Shared by the end-to-end training tests: a test with its own folder that trains runs in it,
// and comparisons of the weights runs write.
#include <torch/torch.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <random>
#include <tuple>
#include <string>

#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/core/stop.h"
#include "forgery/io/image.h"
#include "forgery/io/torch_file.h"
#include "forgery/train/trainer.h"
#include "test_util.h"

namespace forgery::test {

inline NamedTensors weights(const fs::path& run, const std::string& net) {
  return load_state_dict(run / "weights" / (net + ".pt"));
}

// The same names, in the same order, with bit-identical tensors.
inline bool same(const NamedTensors& a, const NamedTensors& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !torch::equal(a[i].second, b[i].second)) return false;
  return true;
}

// An image folder of n size x size colour PNGs of noise (DIR/f0.png, ...): data for folder runs
// where what the images show does not matter.
inline void write_noise_pngs(const fs::path& dir, int n, int size, uint32_t seed) {
  std::mt19937 rng(seed);
  fs::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    Image img{size, size, 3, std::vector<uint8_t>(static_cast<size_t>(size) * size * 3)};
    for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() % 256);
    write_png(dir / ("f" + std::to_string(i) + ".png"), img);
  }
}

// Unpaired data for CycleGAN runs.
// DIR/trainA, trainB, testA, testB: 32x32 images; A has bright disks, B dark squares.
inline void write_domains(const fs::path& dir, int n_train_a, int n_train_b, int n_test, uint32_t seed = 11) {
  std::mt19937 rng(seed);
  auto picture = [&](bool disks) {
    Image im{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)};
    for (auto& p : im.pixels) p = static_cast<uint8_t>(disks ? 40 + rng() % 20 : 180 + rng() % 20);
    const int cx = 8 + static_cast<int>(rng() % 16), cy = 8 + static_cast<int>(rng() % 16), r = 4 + static_cast<int>(rng() % 4);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const bool inside = disks ? (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r : std::abs(x - cx) < r && std::abs(y - cy) < r;
        if (inside)
          for (int k = 0; k < 3; ++k) im.pixels[(y * 32 + x) * 3 + k] = disks ? static_cast<uint8_t>(220 - 40 * k) : 20;
      }
    return im;
  };
  for (auto [sub, n, disks] : {std::tuple<std::string, int, bool>{"trainA", n_train_a, true}, {"trainB", n_train_b, false},
                               {"testA", n_test, true}, {"testB", n_test, false}}) {
    fs::create_directories(dir / sub);
    for (int i = 0; i < n; ++i) write_png(dir / sub / (sub + "_" + std::to_string(i) + ".png"), picture(disks));
  }
}

// Paired data for pix2pix runs.
// A w x h picture of a few coloured rectangles, and its "label map" (each rectangle's colour
// inverted and the background flat), so that there is something to learn.
inline std::pair<Image, Image> make_pair_halves(int w, int h, std::mt19937& rng) {
  Image photo{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  Image labels = photo;
  for (size_t i = 0; i < photo.pixels.size(); ++i) {
    photo.pixels[i] = static_cast<uint8_t>(100 + rng() % 30);
    labels.pixels[i] = 20;
  }
  for (int r = 0; r < 3; ++r) {
    const int x0 = static_cast<int>(rng() % (w / 2)), y0 = static_cast<int>(rng() % (h / 2));
    const int x1 = x0 + w / 4 + static_cast<int>(rng() % (w / 4)), y1 = y0 + h / 4 + static_cast<int>(rng() % (h / 4));
    const uint8_t c[3] = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
    for (int y = y0; y < std::min(y1, h); ++y)
      for (int x = x0; x < std::min(x1, w); ++x)
        for (int k = 0; k < 3; ++k) {
          photo.pixels[(static_cast<size_t>(y) * w + x) * 3 + k] = c[k];
          labels.pixels[(static_cast<size_t>(y) * w + x) * 3 + k] = static_cast<uint8_t>(255 - c[k]);
        }
  }
  return {photo, labels};
}

inline Image side_by_side(const Image& a, const Image& b) {
  Image ab{a.width * 2, a.height, 3, std::vector<uint8_t>(static_cast<size_t>(a.width) * 2 * a.height * 3)};
  const size_t row = static_cast<size_t>(a.width) * 3;
  for (int y = 0; y < a.height; ++y) {
    std::copy_n(a.pixels.data() + y * row, row, ab.pixels.data() + y * 2 * row);
    std::copy_n(b.pixels.data() + y * row, row, ab.pixels.data() + y * 2 * row + row);
  }
  return ab;
}

// DIR/train/1.png ... and DIR/val/1.png ...: A|B pairs with side x side halves (A the photo).
inline void write_pairs(const fs::path& dir, int n_train, int n_val, int side = 128, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  for (auto [split, n] : {std::pair<std::string, int>{"train", n_train}, {"val", n_val}}) {
    fs::create_directories(dir / split);
    for (int i = 1; i <= n; ++i) {
      auto [photo, labels] = make_pair_halves(side, side, rng);
      write_png(dir / split / (std::to_string(i) + ".png"), side_by_side(photo, labels));
    }
  }
}

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_threads(2);  // as a run does (MKL builds: a thread count that holds)
    clear_stop_request();
  }
  void TearDown() override { clear_stop_request(); }
  // Trains a new run in tmp_/name; `after_step` may ask it to stop (then `expect` is 128 + signal).
  fs::path run(const std::string& name, const Config& c, std::function<void(int64_t)> after_step = nullptr,
               int expect = 0) {
    fs::path dir = tmp_ / name;
    prepare_output_dir(dir, false);
    Trainer t(c, dir);
    t.start_new();
    t.after_step = std::move(after_step);
    EXPECT_EQ(t.train(), expect);
    return dir;
  }
  TempDir tmp_;
};

}  // namespace forgery::test
