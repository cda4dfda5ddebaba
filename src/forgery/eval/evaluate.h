#pragma once
// Evaluation: image sets, feature extraction, and the metrics by name.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "forgery/core/progress.h"

namespace forgery {

// Images as [N, C, H, W] float in [-1, 1].
struct ImageSet {
  at::Tensor images;
  std::string name;
};
// An IDX image file (MNIST format, .gz or raw) or a folder of PNG images, all the same size.
ImageSet load_image_set(const std::filesystem::path& path);

struct Extracted {
  at::Tensor features;  // [N, D]
  at::Tensor probs;     // [N, classes]
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual std::string id() const = 0;  // names the extractor in caches and reports
  // Errors name `set` when the images do not fit the extractor.
  virtual Extracted extract(const ImageSet& set, ProgressMode progress) = 0;
};
// `fn` on the images in batches of `batch` (with a progress bar), the results joined.
Extracted extract_in_batches(const at::Tensor& images, int64_t batch, ProgressMode progress,
                             const std::function<Extracted(const at::Tensor&)>& fn);
// The MNIST classifier at `file` (see classifier.h).
std::unique_ptr<FeatureExtractor> mnist_classifier_features(const std::filesystem::path& file);
// Any network saved as TorchScript (for example Inception-v3 with the pytorch-fid weights):
// it receives [N, 3, 299, 299] in [0, 1] (grey repeated to 3 channels, bilinear resize) and
// returns [N, D] or [N, D, 1, 1] features, or a list/tuple whose first element is that.
// It gives no class probabilities (is and classes need the MNIST classifier). Errors name the
// file after `label` (the command-line flag or the option it came from). The network runs on
// `device` (a training run's, so that a GPU run measures on the GPU); features come back on
// the CPU.
std::unique_ptr<FeatureExtractor> torchscript_features(const std::filesystem::path& file,
                                                       const std::string& label = "--features",
                                                       const c10::Device& device = c10::Device(c10::kCPU));

// Metric names: fid, kid, pr, is, classes, accuracy (conditional models: how often the
// classifier finds the class each image was generated for).
const std::vector<std::string>& metric_names();
std::vector<std::string> parse_metric_list(const std::string& comma_separated);
// is, classes and accuracy: the metrics that need class probabilities (the MNIST classifier's;
// a TorchScript feature network gives none).
bool needs_class_probabilities(const std::string& metric);

using MetricResults = std::vector<std::pair<std::string, double>>;
struct EvalOptions {
  std::vector<std::string> metrics = {"fid", "kid", "pr", "is", "classes"};
  uint64_t seed = 0;
  int64_t kid_subsets = 100, kid_subset_size = 1000;
  at::Tensor requested_labels;  // [N] classes the fake images were generated for (accuracy)
};
MetricResults compute_metrics(const Extracted& real, const Extracted& fake, const EvalOptions& options);
// Why FID cannot be had from these features ("" when it can): each set needs more images than
// the features have dimensions (their covariances are singular otherwise).
std::string fid_needs_more_images(const Extracted& real, const Extracted& fake);

// Features of a real set, cached under the cache folder by extractor and image content.
Extracted real_features_cached(FeatureExtractor& extractor, const ImageSet& real, ProgressMode progress);

// Both sets must have the same image shape; errors name them.
void check_same_shape(const ImageSet& a, const ImageSet& b);

}  // namespace forgery
