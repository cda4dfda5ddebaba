#include "forgery/data/image_data.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/data/mnist.h"
#include "forgery/data/parallel.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/io/image.h"
#include "forgery/io/resize.h"

namespace forgery {

namespace {
std::string lower_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool is_image_file(const std::string& ext) { return ext == ".jpg" || ext == ".jpeg" || ext == ".png"; }

// Formats that torchvision's ImageFolder (and so the reference programs) would read and Forgery
// does not: left out, but said once per folder.
bool is_unread_image_file(const std::string& ext) {
  return ext == ".bmp" || ext == ".ppm" || ext == ".pgm" || ext == ".tif" || ext == ".tiff" || ext == ".webp";
}

void warn_unread_once(const fs::path& dir, int64_t count, const fs::path& example) {
  static std::mutex mu;
  static std::set<fs::path> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (!warned.insert(dir).second) return;
  std::fprintf(stderr,
               "forgery: warning: image folder %s: %lld image file(s) in formats Forgery does not read (BMP, PPM, "
               "PGM, TIFF, WebP), such as %s, are left out; convert them to PNG or JPEG to use them\n",
               dir.string().c_str(), static_cast<long long>(count), example.string().c_str());
}

}  // namespace

std::vector<fs::path> list_image_files(const fs::path& dir) {
  require_folder(dir, "image folder");
  std::error_code ec;
  std::vector<fs::path> files;
  std::vector<fs::path> unread;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
  if (ec) throw Error("cannot read image folder " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw Error("cannot read image folder " + dir.string() + ": " + ec.message());
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = lower_extension(it->path());
    if (is_image_file(ext)) files.push_back(it->path());
    else if (is_unread_image_file(ext)) unread.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  if (!unread.empty()) warn_unread_once(dir, static_cast<int64_t>(unread.size()), *std::min_element(unread.begin(), unread.end()));
  return files;
}

ImageData load_image_folder(const fs::path& dir, const ImageDataOptions& o, const c10::Device& device) {
  if (o.channels != 1 && o.channels != 3) throw Error("images must have 1 or 3 channels");
  std::vector<fs::path> files = list_image_files(dir);
  if (files.empty()) throw Error("image folder " + dir.string() + " holds no JPEG or PNG images (.jpg, .jpeg, .png)");
  // Classes: first-level sub-folders that hold images, sorted by name.
  std::map<std::string, int64_t> class_index;
  std::vector<std::string> first_level(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    fs::path rel = files[i].lexically_relative(dir);
    if (std::distance(rel.begin(), rel.end()) >= 2) {
      first_level[i] = rel.begin()->string();
      class_index[first_level[i]] = 0;
    }
  }
  std::vector<std::string> classes;
  for (auto& [name, idx] : class_index) {
    idx = static_cast<int64_t>(classes.size());
    classes.push_back(name);
  }
  if (o.need_classes) {
    for (size_t i = 0; i < files.size(); ++i)
      if (first_level[i].empty())
        throw Error("image " + files[i].string() + " is not in a class sub-folder; a conditional model needs "
                    "one sub-folder per class under " + dir.string());
    if (classes.size() < 2)
      throw Error("image folder " + dir.string() + " has " + std::to_string(classes.size()) +
                  " class sub-folder" + (classes.size() == 1 ? " (" + classes[0] + ")" : std::string()) +
                  "; a conditional model needs at least two (one sub-folder per class)");
  }
  const int64_t n = static_cast<int64_t>(files.size()), s = o.size, c = o.channels;
  const size_t image_bytes = static_cast<size_t>(s * s * c);
  std::vector<uint8_t> pixels(files.size() * image_bytes);
  std::vector<char> ok(files.size(), 0);
  std::vector<std::string> errors(files.size());
  parallel_for_with_progress(n, o.threads, "decoding " + std::to_string(n) + " images", o.progress, [&](int64_t i) {
    try {
      // To grey before resizing, to colour after (as torchvision's pipelines do; fewer channels to resize).
      Image img = read_image(files[i]);
      const ResampleFilter filter = o.bicubic ? ResampleFilter::Bicubic : ResampleFilter::Bilinear;
      auto resize = [&](const Image& im) {
        return o.square ? resize_image(im, static_cast<int>(s), static_cast<int>(s), filter)
                        : resize_center_crop(im, static_cast<int>(s), filter);
      };
      if (c == 1) img = resize(convert_channels(img, 1));
      else if (o.square) img = resize(convert_channels(img, 3));  // RGB first, as the references convert
      else img = convert_channels(resize(img), 3);
      // HWC to CHW.
      uint8_t* dst = pixels.data() + i * image_bytes;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t p = 0; p < s * s; ++p) dst[ch * s * s + p] = img.pixels[p * c + ch];
      ok[i] = 1;
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  });
  ImageData data;
  std::vector<int64_t> keep, labels;
  for (int64_t i = 0; i < n; ++i) {
    if (ok[i]) {
      keep.push_back(i);
      labels.push_back(first_level[i].empty() ? 0 : class_index[first_level[i]]);
    } else if (!o.skip_bad) {
      throw Error(errors[i] + " (set skip_bad_images = true to skip unreadable images)");
    } else {
      if (data.skipped < 5) std::fprintf(stderr, "forgery: skipping a bad image: %s\n", errors[i].c_str());
      ++data.skipped;
    }
  }
  if (data.skipped > 0)
    std::fprintf(stderr, "forgery: skipped %lld unreadable image%s of %lld in %s\n", (long long)data.skipped,
                 data.skipped == 1 ? "" : "s", (long long)n, dir.c_str());
  if (keep.empty()) throw Error("no readable image in " + dir.string());
  auto all = at::from_blob(pixels.data(), {n, c, s, s}, at::kByte);
  auto index = at::tensor(keep, at::kLong);
  data.pixels = (static_cast<int64_t>(keep.size()) == n ? all.clone() : all.index_select(0, index)).to(device);
  data.labels = at::tensor(labels, at::kLong).to(device);
  if (o.need_classes) {
    // Every class must keep at least one image after skipping.
    auto counts = at::bincount(data.labels.cpu(), {}, static_cast<int64_t>(classes.size()));
    for (size_t k = 0; k < classes.size(); ++k)
      if (counts[k].item<int64_t>() == 0) throw Error("class " + classes[k] + " in " + dir.string() + " has no readable image");
  }
  data.classes = std::move(classes);
  return data;
}

ImageData load_mnist_images(const fs::path& dir, bool train, const ImageDataOptions& o, const c10::Device& device) {
  LabelledImages raw = load_mnist(dir, train);
  const int64_t n = raw.count, s = o.size, c = o.channels;
  ImageData data;
  if (s == raw.height && s == raw.width && c == 1) {
    data.pixels = at::from_blob(raw.pixels.data(), {n, 1, s, s}, at::kByte).clone();
  } else {
    data.pixels = at::empty({n, c, s, s}, at::kByte);
    uint8_t* out = data.pixels.data_ptr<uint8_t>();
    const size_t in_bytes = static_cast<size_t>(raw.height * raw.width), out_bytes = static_cast<size_t>(c * s * s);
    parallel_for_with_progress(n, o.threads, "resizing to " + std::to_string(s) + "x" + std::to_string(s), o.progress,
                               [&](int64_t i) {
                                 Image img;
                                 img.width = static_cast<int>(raw.width);
                                 img.height = static_cast<int>(raw.height);
                                 img.channels = 1;
                                 img.pixels.assign(raw.pixels.begin() + i * in_bytes, raw.pixels.begin() + (i + 1) * in_bytes);
                                 Image r = resize_center_crop(img, static_cast<int>(s));
                                 for (int64_t ch = 0; ch < c; ++ch)
                                   std::copy(r.pixels.begin(), r.pixels.end(), out + i * out_bytes + ch * s * s);
                               });
  }
  data.pixels = data.pixels.to(device);
  data.labels = at::from_blob(raw.labels.data(), {n}, at::kByte).to(at::kLong).to(device);
  for (int k = 0; k < 10; ++k) data.classes.push_back(std::to_string(k));
  return data;
}

at::Tensor make_batch(const ImageData& data, const at::Tensor& index, bool hflip) {
  at::Tensor x = normalize_bytes(data.pixels.index_select(0, index));
  if (hflip) {
    auto flip = to_device_async(at::rand({x.size(0)}) < 0.5, x.device()).view({-1, 1, 1, 1});
    x = at::where(flip, x.flip({3}), x);
  }
  return x;
}

Batch ImageBatches::batch(const at::Tensor& index) {
  return {{"real", make_batch(data_, index, hflip_)}, {"labels", data_.labels.index_select(0, index)}};
}

}  // namespace forgery
