#pragma once
// Training images decoded once into a uint8 cache on the training device: the MNIST family
// from IDX files, or any folder of JPEG/PNG images. Batches are normalised (and flipped) on
// the device as whole tensors, so the training loop does no per-image work.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

#include "forgery/core/progress.h"
#include "forgery/data/training_data.h"
#include "forgery/io/image.h"

namespace forgery {

struct ImageData {
  at::Tensor pixels;                 // [N, C, S, S] uint8
  at::Tensor labels;                 // [N] int64 (zeros when the data has no classes)
  std::vector<std::string> classes;  // class names by label; empty when the data has none
  int64_t skipped = 0;               // unreadable files skipped (skip_bad)
  int64_t size() const { return pixels.size(0); }
};

struct ImageDataOptions {
  int64_t size = 64;      // images are made size x size
  // false: the shorter side resized to `size` and the centre cropped (torchvision's
  // Resize(size) + CenterCrop, the GAN family's); true: resized to size x size whatever the
  // aspect (the translation references' Resize([size, size])).
  bool square = false;
  bool bicubic = false;   // PIL's bicubic filter instead of bilinear
  int64_t channels = 3;   // 1 (grey) or 3 (RGB)
  bool need_classes = false;  // a conditional model: at least two classes
  bool skip_bad = false;      // skip unreadable images (counted) instead of failing
  int threads = 1;            // decoding threads
  ProgressMode progress = ProgressMode::Auto;
};

// Every .jpg/.jpeg/.png below `dir` (recursive, sorted by path). Labels come from the
// first-level sub-folder names, sorted (torchvision's ImageFolder convention). Files in other
// formats torchvision reads (BMP, PPM, PGM, TIFF, WebP) are left out with a warning on stderr,
// once per folder.
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir);
ImageData load_image_folder(const std::filesystem::path& dir, const ImageDataOptions& options,
                            const c10::Device& device);
// MNIST or Fashion-MNIST (train or test split), resized when options.size is not 28.
ImageData load_mnist_images(const std::filesystem::path& dir, bool train, const ImageDataOptions& options,
                            const c10::Device& device);

// The images at `index` as floats in [-1, 1] (x / 127.5 - 1, as ToTensor + Normalize(0.5, 0.5)),
// each mirrored left-right with probability 1/2 when `hflip` (drawn from the CPU generator,
// so runs are the same on every device and resume exactly).
at::Tensor make_batch(const ImageData& data, const at::Tensor& index, bool hflip);

// ImageData as training batches: "real" (make_batch) and "labels".
class ImageBatches : public TrainingData {
 public:
  ImageBatches(ImageData data, bool hflip) : data_(std::move(data)), hflip_(hflip) {}
  int64_t size() const override { return data_.size(); }
  Batch batch(const at::Tensor& index) override;
  std::vector<std::string> class_names() const override { return data_.classes; }
  const ImageData& data() const { return data_; }

 private:
  ImageData data_;
  bool hflip_;
};

}  // namespace forgery
