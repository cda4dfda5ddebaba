#pragma once
// Generating images from a trained generator: in batches, without gradients, with requested
// classes for conditional models; and fitting them to an evaluator's input size.
#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <filesystem>

#include "forgery/data/image_data.h"
#include "forgery/eval/evaluate.h"
#include "forgery/models/gan_networks.h"

namespace forgery {

class Config;

// Labels 0, 1, ..., classes-1, 0, 1, ... for n images (undefined when classes is 0).
at::Tensor cycled_labels(int64_t n, int64_t classes);
// Each of `rows` rows of `nrow` images shows one class: row r has label r % classes.
at::Tensor row_labels(int64_t n, int64_t nrow, int64_t classes);

// n images as [n, C, H, W] floats in [-1, 1] on the CPU, from noise drawn from `noise` (on the
// CPU, so every device gives the same images), in eval mode; `labels` (on the CPU) for
// conditional generators. The generator's training mode is restored.
at::Tensor generate_images(Generator& G, int64_t n, at::Generator noise, const c10::Device& device,
                           const at::Tensor& labels);

// Recomputes G's BatchNorm running statistics for the weights it holds now (the generator's
// moving average), as PyTorch's swa_utils.update_bn does for an averaged model: the statistics
// reset, then their cumulative mean over `batches` batches of `batch` images made from noise
// drawn from `noise` (labels 0, 1, 2, ... for conditional generators), in training mode, without
// gradients. False, and nothing changed, for a generator without BatchNorm. Leaves G in training
// mode (the caller restores its mode).
bool recompute_batchnorm_statistics(Generator& G, int64_t batches, int64_t batch, at::Generator noise,
                                    const c10::Device& device);

// Images resized (antialiased bilinear) to size x size and converted to `channels` (grey is
// the channel mean), for an evaluator with a fixed input such as the 28x28 MNIST classifier.
at::Tensor fit_images(const at::Tensor& images, int64_t channels, int64_t size);

// n samples for evaluation: for a conditional generator with the labels 0, 1, ..., 9, 0, ...
// recorded in options.requested_labels (and "accuracy" added to options.metrics when
// `add_accuracy`); fitted to the MNIST classifier's 28x28 grey when `fit_to_classifier`.
at::Tensor generate_for_eval(Generator& G, int64_t n, at::Generator noise, const c10::Device& device,
                             EvalOptions& options, bool add_accuracy, bool fit_to_classifier);

// The MNIST-family test images as the evaluator should compare them with a model's samples:
// for a model of another size (DCGAN's 32 or 64), resized to that size as for training and
// fitted back to 28x28 like the samples, so that the resizing itself costs no FID.
at::Tensor mnist_eval_images(const std::filesystem::path& dir, int64_t model_size);

// How the GAN family makes a run's training images (image_size, channels, num_classes,
// skip_bad_images, progress; decoding threads as LibTorch's).
ImageDataOptions gan_image_options(const Config& config);
// The real set of a run trained on an image folder: n of the folder's images (a choice seeded
// by `seed`), made as training made them, as [n, C, S, S] floats in [-1, 1] on the CPU.
at::Tensor folder_eval_images(const Config& config, const std::filesystem::path& dir, int64_t n, uint64_t seed);
// The same choice from images already decoded (uint8 [N, C, S, S] on any device, in the
// folder's order): training's own copy, so that eval_every decodes nothing again.
at::Tensor choose_eval_images(const at::Tensor& pixels, int64_t n, uint64_t seed);

}  // namespace forgery
