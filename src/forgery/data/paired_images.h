#pragma once
// Aligned image pairs (pix2pix): each file holds A and B side by side (A|B, split at half the
// width), as the reference's aligned datasets store them. Decoded once, each half converted
// to its channels and resized with PIL's bicubic filter, into a uint8 cache on the training
// device; a batch crops both halves at the same random place and flips both or neither, on
// the device. Also `forgery data combine`, which makes such files from two folders.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "forgery/core/progress.h"
#include "forgery/data/training_data.h"
#include "forgery/io/image.h"

namespace forgery {

// A|B into its halves as the reference splits it: A the left floor(width / 2) columns, B the
// rest; an image narrower than 2 pixels is an error naming `name`.
std::pair<Image, Image> split_pair(const Image& ab, const std::string& name);

struct PairedImages {
  at::Tensor a, b;  // [N, Ca, S, S] and [N, Cb, S, S] uint8
  std::vector<std::filesystem::path> files;
  int64_t size() const { return a.size(0); }
};

struct PairedLoadOptions {
  int64_t a_channels = 3, b_channels = 3;  // 1 (grey, PIL's luma) or 3
  int64_t size = 256;    // halves resized to size x size (bicubic); 0: kept as they are
  int64_t min_size = 0;  // with size 0: halves smaller than this are an error
  int threads = 1;
  ProgressMode progress = ProgressMode::Auto;
};

// Every .jpg/.jpeg/.png below `dir`, sorted by path. Errors name the folder (missing, empty)
// or the file (unreadable, narrower than 2 pixels, of another size when sizes are kept, too
// small).
PairedImages load_paired_images(const std::filesystem::path& dir, const PairedLoadOptions& options,
                                const c10::Device& device);

// Batches "A" and "B" as floats in [-1, 1]: a random crop_size square at the same place in
// both halves and, with `flip`, both mirrored left-right with probability 1/2 (drawn from the
// CPU generator).
class AlignedPairs : public TrainingData {
 public:
  AlignedPairs(PairedImages images, int64_t crop_size, bool flip);
  int64_t size() const override { return images_.size(); }
  Batch batch(const at::Tensor& index) override;
  const PairedImages& images() const { return images_; }

 private:
  PairedImages images_;
  int64_t crop_;
  bool flip_;
};

// `forgery data combine`: for every image below a_dir, the image of the same relative path
// and name (any of .jpg, .jpeg, .png) below b_dir, side by side as OUT/RELATIVE_PATH.png.
// Everything is checked before anything is written: an A without its B, several Bs for one A,
// or halves of different sizes are errors naming the files. Returns the number written.
int64_t combine_pairs(const std::filesystem::path& a_dir, const std::filesystem::path& b_dir,
                      const std::filesystem::path& out_dir, int threads, ProgressMode progress);

}  // namespace forgery
