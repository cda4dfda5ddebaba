#pragma once
// Shared by the end-to-end training tests: a test with its own folder that trains runs in it,
// and comparisons of the weights runs write.
#include <torch/torch.h>

#include <csignal>
#include <functional>
#include <random>
#include <tuple>
#include <string>

#include "forgery/core/fs.h"
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

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    at::set_num_threads(2);
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
