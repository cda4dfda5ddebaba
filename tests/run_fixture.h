#pragma once
// Shared by the end-to-end training tests: a test with its own folder that trains runs in it,
// and comparisons of the weights runs write.
#include <torch/torch.h>

#include <csignal>
#include <functional>
#include <string>

#include "forgery/core/fs.h"
#include "forgery/core/stop.h"
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
