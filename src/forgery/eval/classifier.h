#pragma once
// The MNIST-family classifier Forgery trains itself (no external weights, works offline): its
// 128-wide penultimate layer gives the features for FID/KID/precision-recall, its softmax the
// class probabilities for the Inception-Score-style score and class coverage.
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/nn/functional/dropout.h>

#include <filesystem>
#include <string>

#include "forgery/core/progress.h"

namespace forgery {

class MnistClassifierImpl : public torch::nn::Module {
 public:
  MnistClassifierImpl();
  // x: [N, 1, 28, 28] in [-1, 1]
  at::Tensor features(const at::Tensor& x);
  at::Tensor logits_from_features(const at::Tensor& features) {
    return fc2->forward(at::dropout(features, 0.5, is_training()));
  }
  at::Tensor forward(const at::Tensor& x) { return logits_from_features(features(x)); }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(MnistClassifier);

struct ClassifierTraining {
  int64_t epochs = 5, batch_size = 64, seed = 0;
  double lr = 1e-3;
  ProgressMode progress = ProgressMode::Auto;
};

struct ClassifierResult {
  double test_accuracy = 0;
  std::filesystem::path file;
};

// Trains on the folder's training split, measures accuracy on its test split, writes the
// weights (a state_dict, with accuracy and seed) to `file`. Deterministic for a seed and a
// thread count.
ClassifierResult train_mnist_classifier(const std::filesystem::path& data_dir, const std::filesystem::path& file,
                                        const ClassifierTraining& options);
// Loads a classifier written by train_mnist_classifier; errors name the file.
MnistClassifier load_mnist_classifier(const std::filesystem::path& file, double* test_accuracy = nullptr);
// The cache location for the classifier of the data in `data_dir` (keyed by its content).
std::filesystem::path default_classifier_path(const std::filesystem::path& data_dir);

}  // namespace forgery
