#pragma once
// Unaligned images (CycleGAN): two domains, A and B, with no pairing. An epoch walks A in the
// trainer's shuffled order and draws each B at random (the reference's UnalignedDataset), and
// lasts max(|A|, |B|) examples; every image gets its own random crop and flip. Both domains
// are decoded once into uint8 caches on the training device.
#include "forgery/data/image_data.h"
#include "forgery/data/training_data.h"

namespace forgery {

class UnalignedImages : public TrainingData {
 public:
  UnalignedImages(ImageData a, ImageData b, int64_t crop_size, bool flip);
  int64_t size() const override { return std::max(a_.size(), b_.size()); }
  Batch batch(const at::Tensor& index) override;
  const ImageData& a() const { return a_; }
  const ImageData& b() const { return b_; }

 private:
  ImageData a_, b_;
  int64_t crop_;
  bool flip_;
};

}  // namespace forgery
