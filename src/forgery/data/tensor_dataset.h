#pragma once
// A whole dataset as tensors on the training device (the MNIST family fits easily), so an
// epoch is a permutation and each batch one index_select: no per-image work in the loop.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

namespace forgery {

struct TensorDataset {
  at::Tensor images;  // [N, C, H, W] float, normalised to [-1, 1]
  at::Tensor labels;  // [N] int64
  int64_t size() const { return images.size(0); }
};

// pixel/255, then (x - 0.5) / 0.5, as torchvision's ToTensor + Normalize((0.5,), (0.5,)).
at::Tensor normalize_bytes(const at::Tensor& uint8_images);

// A small CPU tensor (random draws made on the host) on `device`, without making the host wait:
// to a GPU through page-locked memory, queued behind the work already on the stream (a copy from
// pageable memory would first wait for all of it, once per training step).
at::Tensor to_device_async(const at::Tensor& host, const c10::Device& device);

// The folder holding `dataset` ("mnist", "fashion-mnist"): `data_dir` if given (it must hold
// the files), else the cache folder, downloading there when the files are missing.
std::filesystem::path resolve_dataset_dir(const std::string& dataset, const std::string& data_dir,
                                          bool quiet = false);
TensorDataset load_mnist_family(const std::filesystem::path& dir, bool train, const c10::Device& device);

}  // namespace forgery
