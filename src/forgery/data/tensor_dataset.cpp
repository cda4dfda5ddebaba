#include "forgery/data/tensor_dataset.h"

#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/data/download.h"
#include "forgery/data/mnist.h"

namespace forgery {

at::Tensor normalize_bytes(const at::Tensor& bytes) {
  return bytes.to(at::kFloat).div_(255.0).sub_(0.5).div_(0.5);
}

at::Tensor to_device_async(const at::Tensor& host, const c10::Device& device) {
  if (!device.is_cuda() || !host.is_cpu()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

fs::path resolve_dataset_dir(const std::string& dataset, const std::string& data_dir, bool quiet) {
  if (!data_dir.empty()) return data_dir;
  fs::path dir = cache_dir() / dataset;
  if (has_mnist_files(dir)) return dir;
  if (!quiet) std::fprintf(stderr, "forgery: %s is not in %s; downloading it\n", dataset.c_str(), dir.c_str());
  DownloadOptions opts;
  opts.quiet = quiet;
  download_dataset(dataset, dir, opts);
  return dir;
}

TensorDataset load_mnist_family(const fs::path& dir, bool train, const c10::Device& device) {
  LabelledImages raw = load_mnist(dir, train);
  auto pixels = at::from_blob(raw.pixels.data(), {raw.count, 1, raw.height, raw.width}, at::kByte);
  auto labels = at::from_blob(raw.labels.data(), {raw.count}, at::kByte);
  TensorDataset ds;
  // Move the bytes first: a quarter of the traffic of moving floats.
  ds.images = normalize_bytes(pixels.to(device));
  ds.labels = labels.to(device).to(at::kLong);
  return ds;
}

}  // namespace forgery
