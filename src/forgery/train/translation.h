#pragma once
// Running an image-to-image generator on a set of images, as the reference's test script runs
// it: one image at a time, normalisation with the image's own statistics and dropout active
// (seeded), or with `eval_mode` running statistics and no dropout. Used by the translation
// recipes' visuals and val metrics and by `forgery translate`.
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "forgery/io/metrics.h"
#include "forgery/models/image_nets.h"

namespace forgery {

struct TranslateOptions {
  bool eval_mode = false;
  uint64_t seed = 0;  // seeds the dropout masks (the caller keeps the run's stream intact)
  c10::Device device{c10::kCPU};
};

// G on a batch of images in [-1, 1] without gradients, in training mode (per-image statistics,
// dropout active) or, with `eval_mode`, in eval mode; the training flag is restored. The caller
// seeds the dropout.
at::Tensor run_generator(ImageNet& G, const at::Tensor& x, bool eval_mode);

// [N, C, S, S] uint8 images in, [N, C', S, S] uint8 images out (on the CPU), rounded as the
// PNG writers round. The generator's training flag is restored; in training mode its
// BatchNorm running statistics move, as in the reference (callers that must not change a
// model keep them, see the trainer).
at::Tensor translate_images(ImageNet& G, const at::Tensor& images, const TranslateOptions& options);

// How well a pair of generators translates between two domains, on test images (uint8
// [N, C, S, S]) of each, as the reference's test script runs them: for each direction the
// share of translated images the domain judge places in the target domain
// (AtoB_target_share), KID and FID between the translated images and the real images of the
// target domain on `features` (the judge's unless the user gave a network; FID only when
// both sets have more images than the features have dimensions), and the L1
// distance (in [0, 1] units) of the reconstructions to the originals (cycle_A_l1, cycle_B_l1);
// `kid`, the mean of both directions' KID, is what best.pt is kept by.
struct CycleEvaluation {
  MetricRow metrics;
  double kid = 0;
  std::string summary;
  std::vector<std::string> notes;  // as Evaluation's
};
class FeatureExtractor;
CycleEvaluation evaluate_cycle(ImageNet& a_to_b, ImageNet& b_to_a, const at::Tensor& test_a, const at::Tensor& test_b,
                               FeatureExtractor& judge, FeatureExtractor& features, const TranslateOptions& options);

// [N, C, H, W] floats in [-1, 1] to 8-bit values, clamped (x + 1) / 2 * 255 + 0.5, truncated.
at::Tensor to_bytes(const at::Tensor& images);
// 1-channel images repeated to 3 (to show grey and colour images side by side).
at::Tensor to_channels(const at::Tensor& images, int64_t channels);

}  // namespace forgery
