#include "forgery/data/paired_images.h"

#include <ATen/ATen.h>

#include <cstring>
#include <map>
#include <set>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/data/augment.h"
#include "forgery/data/image_data.h"
#include "forgery/data/parallel.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/io/resize.h"

namespace forgery {

std::pair<Image, Image> split_pair(const Image& ab, const std::string& name) {
  if (ab.width < 2)
    throw Error("pair image " + name + " is " + std::to_string(ab.width) + "x" + std::to_string(ab.height) +
                ": too narrow for an A|B pair (two halves side by side)");
  // As the reference: A the left floor(width / 2) columns, B the rest (one column more where the width is odd).
  const int w = ab.width / 2;
  return {crop_image(ab, 0, 0, w, ab.height), crop_image(ab, w, 0, ab.width - w, ab.height)};
}

namespace {
std::string size_text(const Image& im) { return std::to_string(im.width) + "x" + std::to_string(im.height); }

// HWC bytes into a CHW slot.
void store_chw(const Image& im, uint8_t* dst) {
  const int64_t hw = static_cast<int64_t>(im.width) * im.height;
  for (int ch = 0; ch < im.channels; ++ch)
    for (int64_t p = 0; p < hw; ++p) dst[ch * hw + p] = im.pixels[p * im.channels + ch];
}
}  // namespace

PairedImages load_paired_images(const fs::path& dir, const PairedLoadOptions& o, const c10::Device& device) {
  std::vector<fs::path> files = list_image_files(dir);
  if (files.empty()) throw Error("pair folder " + dir.string() + " holds no JPEG or PNG images (.jpg, .jpeg, .png)");
  const int64_t n = static_cast<int64_t>(files.size());
  // With sizes kept, every half must be as large as the first.
  int64_t width = o.size, height = o.size;
  if (o.size == 0) {
    Image first = read_image(files[0]);
    auto halves = split_pair(first, files[0].string());
    width = halves.first.width;
    height = halves.first.height;
  }
  const size_t a_bytes = static_cast<size_t>(o.a_channels * width * height);
  const size_t b_bytes = static_cast<size_t>(o.b_channels * width * height);
  std::vector<uint8_t> a(a_bytes * n), b(b_bytes * n);
  std::vector<std::string> errors(files.size());
  parallel_for_with_progress(n, o.threads, "decoding " + std::to_string(n) + " pairs", o.progress, [&](int64_t i) {
    try {
      // As the reference: the pair as RGB, split, each half to its channels, then resized.
      Image ab = convert_channels(read_image(files[i]), 3);
      auto [ha, hb] = split_pair(ab, files[i].string());
      ha = convert_channels(ha, static_cast<int>(o.a_channels));
      hb = convert_channels(hb, static_cast<int>(o.b_channels));
      if (o.size > 0) {
        ha = resize_image(ha, static_cast<int>(o.size), static_cast<int>(o.size), ResampleFilter::Bicubic);
        hb = resize_image(hb, static_cast<int>(o.size), static_cast<int>(o.size), ResampleFilter::Bicubic);
      } else {
        // Unresized, B's extra column (an odd width) lies outside every crop: crops are drawn
        // from A's size, as the reference draws them.
        if (hb.width > ha.width) hb = crop_image(hb, 0, 0, ha.width, hb.height);
        if (ha.width < o.min_size || ha.height < o.min_size)
          throw Error("pair image " + files[i].string() + " has halves of " + size_text(ha) + ", smaller than the " +
                      std::to_string(o.min_size) + "x" + std::to_string(o.min_size) + " crop (crop_size)");
        if (ha.width != width || ha.height != height)
          throw Error("pair image " + files[i].string() + " has halves of " + size_text(ha) + ", " +
                      files[0].filename().string() + " of " + std::to_string(width) + "x" + std::to_string(height) +
                      "; without resizing (preprocess = crop) every pair must have the same size");
      }
      store_chw(ha, a.data() + i * a_bytes);
      store_chw(hb, b.data() + i * b_bytes);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  });
  for (const auto& e : errors)
    if (!e.empty()) throw Error(e);
  PairedImages out;
  out.a = at::from_blob(a.data(), {n, o.a_channels, height, width}, at::kByte).to(device, /*non_blocking=*/false, /*copy=*/true);
  out.b = at::from_blob(b.data(), {n, o.b_channels, height, width}, at::kByte).to(device, false, true);
  out.files = std::move(files);
  return out;
}

AlignedPairs::AlignedPairs(PairedImages images, int64_t crop_size, bool flip)
    : images_(std::move(images)), crop_(crop_size), flip_(flip) {
  if (images_.a.size(2) < crop_ || images_.a.size(3) < crop_)
    throw Error("pair images of " + std::to_string(images_.a.size(3)) + "x" + std::to_string(images_.a.size(2)) +
                " are smaller than crop_size " + std::to_string(crop_));
}

Batch AlignedPairs::batch(const at::Tensor& index) {
  // The same crop and flip for A and B.
  CropDraws d = draw_crops(index.size(0), images_.a.size(2), images_.a.size(3), crop_, flip_);
  return {{"A", apply_crops(images_.a.index_select(0, index), d, crop_)},
          {"B", apply_crops(images_.b.index_select(0, index), d, crop_)}};
}

int64_t combine_pairs(const fs::path& a_dir, const fs::path& b_dir, const fs::path& out_dir, int threads,
                      ProgressMode progress) {
  for (const auto& [in, name] : {std::pair{a_dir, "A"}, std::pair{b_dir, "B"}})
    if (path_within(out_dir, in) || path_within(in, out_dir)) {
      const bool inside = path_within(out_dir, in), same = inside && path_within(in, out_dir);
      throw UsageError("data combine: the output folder " + out_dir.string() + (same ? " is" : inside ? " lies in" : " holds") +
                       " folder " + name + " (" + in.string() + "): the pairs would overwrite or mix with the inputs; "
                       "choose an output folder outside both");
    }
  std::vector<fs::path> a_files = list_image_files(a_dir);
  if (a_files.empty()) throw Error("folder A " + a_dir.string() + " holds no JPEG or PNG images");
  std::vector<fs::path> b_all = list_image_files(b_dir);
  // B files by relative path without extension.
  std::map<std::string, std::vector<fs::path>> b_by_stem;
  for (const auto& p : b_all) b_by_stem[p.lexically_relative(b_dir).replace_extension().string()].push_back(p);
  std::vector<std::pair<fs::path, fs::path>> pairs;
  std::string missing;
  int missing_count = 0;
  for (const auto& a : a_files) {
    const std::string key = a.lexically_relative(a_dir).replace_extension().string();
    auto it = b_by_stem.find(key);
    if (it == b_by_stem.end()) {
      if (++missing_count <= 5) missing += "\n  " + a.string();
      continue;
    }
    if (it->second.size() > 1)
      throw Error("image " + a.string() + " has several same-named images in " + b_dir.string() + ": " +
                  it->second[0].filename().string() + ", " + it->second[1].filename().string());
    pairs.emplace_back(a, it->second[0]);
  }
  if (missing_count > 0)
    throw Error(std::to_string(missing_count) + " image" + (missing_count == 1 ? "" : "s") + " in " + a_dir.string() +
                " ha" + (missing_count == 1 ? "s" : "ve") + " no same-named image in " + b_dir.string() + ":" + missing +
                (missing_count > 5 ? "\n  ..." : ""));
  const int64_t n = static_cast<int64_t>(pairs.size());
  // Two passes, so that memory stays small and nothing is written unless every pair is good:
  // the first decodes and checks, the second decodes again and writes.
  auto combine = [&](int64_t i) {
    Image a = read_image(pairs[i].first), b = read_image(pairs[i].second);
    if (a.width != b.width || a.height != b.height)
      throw Error("images " + pairs[i].first.string() + " (" + size_text(a) + ") and " + pairs[i].second.string() +
                  " (" + size_text(b) + ") differ in size");
    const int c = std::max(a.channels, b.channels);
    a = convert_channels(a, c);
    b = convert_channels(b, c);
    Image ab;
    ab.width = a.width * 2;
    ab.height = a.height;
    ab.channels = c;
    ab.pixels.resize(static_cast<size_t>(ab.width) * ab.height * c);
    const size_t row = static_cast<size_t>(a.width) * c;
    for (int y = 0; y < a.height; ++y) {
      std::memcpy(ab.pixels.data() + y * 2 * row, a.pixels.data() + y * row, row);
      std::memcpy(ab.pixels.data() + y * 2 * row + row, b.pixels.data() + y * row, row);
    }
    return ab;
  };
  std::vector<std::string> errors(pairs.size());
  for (const bool write : {false, true}) {
    parallel_for_with_progress(n, threads, (write ? "writing " : "checking ") + std::to_string(n) + " pairs", progress,
                               [&](int64_t i) {
                                 try {
                                   Image ab = combine(i);
                                   if (!write) return;
                                   fs::path out = out_dir / pairs[i].first.lexically_relative(a_dir).replace_extension(".png");
                                   create_parent_dirs(out, "data combine: pair");
                                   write_png(out, ab);
                                 } catch (const std::exception& e) {
                                   errors[i] = e.what();
                                 }
                               });
    for (const auto& e : errors)
      if (!e.empty()) throw Error(e);
  }
  return n;
}

}  // namespace forgery
