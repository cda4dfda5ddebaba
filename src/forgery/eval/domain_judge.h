#pragma once
// The domain judge: a small CNN Forgery trains itself to tell domain A from domain B on the
// real training images of an unpaired dataset (no Inception weights needed, works offline).
// Its 64-wide penultimate layer gives the features for KID and FID between translated and real
// images; its decision gives the share of translated images it places in the target domain.
// Deterministic for a seed and a thread count, cached by the images' content.
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <filesystem>
#include <memory>

#include "forgery/core/progress.h"
#include "forgery/eval/evaluate.h"

namespace forgery {

inline constexpr int64_t kJudgeSize = 64;  // images are resized to 64x64 for the judge

// 4x4 stride-2 convolutions 32, 64, 128, 256 wide (BatchNorm but on the first, LeakyReLU 0.2)
// down to 4x4, average pooled, a 64-wide layer (the features), two logits (A, B).
class DomainJudgeImpl : public torch::nn::Module {
 public:
  explicit DomainJudgeImpl(int64_t channels);
  at::Tensor features(const at::Tensor& x);  // x: [N, C, 64, 64] in [-1, 1]
  at::Tensor logits_from_features(const at::Tensor& f) { return fc2->forward(f); }
  at::Tensor forward(const at::Tensor& x) { return logits_from_features(features(x)); }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr};
  torch::nn::BatchNorm2d bn2{nullptr}, bn3{nullptr}, bn4{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(DomainJudge);

// Images [N, C, H, W] in [-1, 1] of any size, as the judge takes them (antialiased bilinear
// resizing to 64x64).
at::Tensor judge_input(const at::Tensor& images);

struct JudgeTraining {
  int64_t epochs = 8, batch_size = 32, seed = 0;
  double lr = 1e-3;
  ProgressMode progress = ProgressMode::Auto;
};

struct JudgeResult {
  double holdout_accuracy = 0;  // on every tenth image of each domain, not trained on
  std::filesystem::path file;
};

// a, b: uint8 [N, C, H, W] images of the two domains (A labelled 0, B 1), of one channel count.
JudgeResult train_domain_judge(const at::Tensor& a, const at::Tensor& b, const std::filesystem::path& file,
                               const JudgeTraining& options);
// The cache location for the judge of these images (keyed by their content).
std::filesystem::path default_judge_path(const at::Tensor& a, const at::Tensor& b);
// Features [N, 64] and probabilities [N, 2] (A, B); errors name the file.
std::unique_ptr<FeatureExtractor> domain_judge_features(const std::filesystem::path& file, double* holdout_accuracy = nullptr);

}  // namespace forgery
