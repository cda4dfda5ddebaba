#include "forgery/eval/evaluate.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "forgery/core/error.h"
#include "forgery/core/hash.h"
#include "forgery/core/fs.h"
#include "forgery/data/idx.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/classifier.h"
#include "forgery/eval/metrics.h"
#include "forgery/io/image.h"
#include "forgery/io/torch_file.h"

namespace forgery {

ImageSet load_image_set(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error("image set " + path.string() + " does not exist");
  ImageSet set;
  set.name = path.string();
  if (!fs::is_directory(path, ec)) {
    IdxArray idx = read_idx(path, 3);
    auto bytes = torch::from_blob(idx.data.data(), {idx.dims[0], 1, idx.dims[1], idx.dims[2]}, torch::kUInt8);
    set.images = normalize_bytes(bytes);
    return set;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && ext == ".png") files.push_back(e.path());
  }
  if (files.empty()) throw Error("image set " + path.string() + " holds no PNG images");
  std::sort(files.begin(), files.end());
  Image first = read_png(files[0]);
  auto bytes = torch::empty({static_cast<int64_t>(files.size()), first.height, first.width, first.channels}, torch::kUInt8);
  for (size_t i = 0; i < files.size(); ++i) {
    Image im = i == 0 ? first : read_png(files[i]);
    if (im.width != first.width || im.height != first.height || im.channels != first.channels)
      throw Error("image set " + path.string() + ": " + files[i].filename().string() + " is " +
                  std::to_string(im.channels) + "x" + std::to_string(im.height) + "x" + std::to_string(im.width) +
                  ", " + files[0].filename().string() + " is " + std::to_string(first.channels) + "x" +
                  std::to_string(first.height) + "x" + std::to_string(first.width));
    std::memcpy(bytes[static_cast<int64_t>(i)].data_ptr<uint8_t>(), im.pixels.data(), im.pixels.size());
  }
  set.images = normalize_bytes(bytes.permute({0, 3, 1, 2}).contiguous());
  return set;
}

void check_same_shape(const ImageSet& a, const ImageSet& b) {
  auto shape = [](const ImageSet& s) {
    return std::to_string(s.images.size(1)) + "x" + std::to_string(s.images.size(2)) + "x" + std::to_string(s.images.size(3));
  };
  if (a.images.sizes().slice(1) != b.images.sizes().slice(1))
    throw Error("the image sets differ in shape: " + a.name + " holds " + shape(a) + " images, " + b.name +
                " holds " + shape(b) + " (channels x height x width)");
}

Extracted extract_in_batches(const at::Tensor& images, int64_t batch, ProgressMode progress,
                             const std::function<Extracted(const at::Tensor&)>& fn) {
  std::vector<at::Tensor> feats, probs;
  const int64_t n = images.size(0);
  ProgressBar bar("features", (n + batch - 1) / batch, batch, progress);
  for (int64_t s = 0; s < n; s += batch) {
    Extracted e = fn(images.narrow(0, s, std::min(batch, n - s)));
    feats.push_back(e.features);
    if (e.probs.defined()) probs.push_back(e.probs);
    bar.update(s / batch + 1, std::min(n, s + batch));
  }
  bar.finish();
  return {torch::cat(feats), probs.empty() ? at::Tensor() : torch::cat(probs)};
}

namespace {
// FNV-1a over a file's bytes, in hex: the cache of real features is kept per network content,
// so that a network retrained or replaced under the same name never meets the old features.
std::string content_key(const fs::path& file, const std::string& what) {
  const uint64_t h = fnv1a(read_file(file, what));
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

class ClassifierFeatures : public FeatureExtractor {
 public:
  explicit ClassifierFeatures(const fs::path& file)
      : file_(file), net_(load_mnist_classifier(file)), key_(content_key(file, "classifier")) {}
  std::string id() const override { return "mnist-cnn-" + file_.stem().string() + "-" + key_; }
  Extracted extract(const ImageSet& set, ProgressMode progress) override {
    const auto& x = set.images;
    if (x.size(1) != 1 || x.size(2) != 28 || x.size(3) != 28)
      throw Error(set.name + ": the MNIST classifier needs 1x28x28 images, these are " + std::to_string(x.size(1)) +
                  "x" + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)));
    torch::NoGradGuard no_grad;
    net_->eval();
    return extract_in_batches(x, 1000, progress, [&](const at::Tensor& b) {
      auto f = net_->features(b.to(torch::kCPU, torch::kFloat));
      return Extracted{f, torch::softmax(net_->logits_from_features(f), 1)};
    });
  }

 private:
  fs::path file_;
  MnistClassifier net_;
  std::string key_;
};
class TorchScriptFeatures : public FeatureExtractor {
 public:
  TorchScriptFeatures(const fs::path& file, std::string label, const c10::Device& device)
      : file_(file), label_(std::move(label)), device_(device) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw Error(label_ + " " + file.string() + " does not exist");
    if (fs::is_directory(file, ec)) throw Error(label_ + " " + file.string() + " is a folder, not a TorchScript network");
    try {
      module_ = torch::jit::load(file.string());
    } catch (const c10::Error& e) {
      throw Error(label_ + " " + file.string() + " is not a TorchScript network: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw Error(label_ + " " + file.string() + " is not a TorchScript network: " + e.what());
    }
    module_.eval();
    if (!device_.is_cpu()) {
      try {
        module_.to(device_);
      } catch (const std::exception& e) {
        throw Error(label_ + " " + file.string() + " cannot move to " + device_.str() + ": " +
                    std::string(e.what()).substr(0, std::string(e.what()).find('\n')));
      }
    }
    key_ = content_key(file, label_);
    // A batch of two images now: a network that cannot give features fails here, before a run
    // trains towards its first evaluation.
    extract(ImageSet{at::zeros({2, 3, 8, 8}), "a test batch"}, ProgressMode::Off);
  }
  // The device is part of the name: features computed elsewhere differ in their last bits, and
  // cached real features are only reused by the same kind of computation.
  std::string id() const override {
    return "torchscript-" + file_.stem().string() + "-" + key_ + (device_.is_cpu() ? "" : "-" + device_.str());
  }
  Extracted extract(const ImageSet& set, ProgressMode progress) override {
    const auto& x = set.images;
    if (x.size(1) != 1 && x.size(1) != 3)
      throw Error(set.name + ": images must have 1 or 3 channels, not " + std::to_string(x.size(1)));
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> feats;
    const int64_t n = x.size(0), bs = 100;
    ProgressBar bar("features", (n + bs - 1) / bs, bs, progress);
    for (int64_t s = 0; s < n; s += bs) {
      auto b = x.narrow(0, s, std::min(bs, n - s)).to(device_, torch::kFloat).add(1).div_(2);
      if (b.size(1) == 1) b = b.repeat({1, 3, 1, 1});
      b = torch::upsample_bilinear2d(b, {299, 299}, /*align_corners=*/false);
      c10::IValue out;
      try {
        out = module_.forward({b});
      } catch (const c10::Error& e) {
        throw Error(label_ + " " + file_.string() + " failed on a batch of [" + std::to_string(b.size(0)) +
                    ", 3, 299, 299]: " + e.what_without_backtrace());
      } catch (const std::exception& e) {
        // Errors inside a script come from the TorchScript interpreter as std::runtime_error
        // (torch::jit::JITException for a `raise`), not as c10::Error.
        throw Error(label_ + " " + file_.string() + " failed on a batch of [" + std::to_string(b.size(0)) +
                    ", 3, 299, 299]: " + e.what());
      }
      if ((out.isList() || out.isTuple()) && !out.isTensor()) {
        auto elems = out.isList() ? out.toListRef().vec() : out.toTupleRef().elements().vec();
        if (elems.empty()) throw Error(label_ + " " + file_.string() + " returned an empty list");
        out = elems[0];
      }
      if (!out.isTensor()) throw Error(label_ + " " + file_.string() + " must return a tensor of features");
      auto f = out.toTensor();
      if (f.dim() == 4 && f.size(2) == 1 && f.size(3) == 1) f = f.flatten(1);
      if (f.dim() != 2 || f.size(0) != b.size(0))
        throw Error(label_ + " " + file_.string() + " returned shape " + shape_text(f) +
                    " for a batch of " + std::to_string(b.size(0)) + "; expected [N, D] or [N, D, 1, 1]");
      feats.push_back(f.to(torch::kCPU, torch::kFloat));
      bar.update(s / bs + 1, std::min(n, s + bs));
    }
    bar.finish();
    return {torch::cat(feats), at::Tensor()};
  }

 private:
  static std::string shape_text(const at::Tensor& t) {
    std::string s = "[";
    for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
  }
  fs::path file_;
  std::string label_;  // how errors name the file: "--features", "option eval_features"
  c10::Device device_;
  torch::jit::script::Module module_;
  std::string key_;
};
}  // namespace

std::unique_ptr<FeatureExtractor> torchscript_features(const fs::path& file, const std::string& label,
                                                       const c10::Device& device) {
  return std::make_unique<TorchScriptFeatures>(file, label, device);
}

std::unique_ptr<FeatureExtractor> mnist_classifier_features(const fs::path& file) {
  return std::make_unique<ClassifierFeatures>(file);
}

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = {"fid", "kid", "pr", "is", "classes", "accuracy"};
  return names;
}

bool needs_class_probabilities(const std::string& metric) {
  return metric == "is" || metric == "classes" || metric == "accuracy";
}

std::vector<std::string> parse_metric_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) {
      const auto& known = metric_names();
      if (std::find(known.begin(), known.end(), name) == known.end())
        throw UsageError("--metrics: unknown metric '" + name + "' (known: fid, kid, pr, is, classes, accuracy)");
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);  // each once
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) throw UsageError("--metrics: no metric named");
  return out;
}

std::string fid_needs_more_images(const Extracted& real, const Extracted& fake) {
  if (!real.features.defined() || !fake.features.defined() || real.features.dim() != 2) return "";
  const int64_t d = real.features.size(1), r = real.features.size(0), f = fake.features.size(0);
  if (r > d && f > d) return "";
  return std::to_string(r) + " real and " + std::to_string(f) + " generated images, and FID needs more than the " +
         std::to_string(d) + " dimensions of the features in each set";
}

MetricResults compute_metrics(const Extracted& real, const Extracted& fake, const EvalOptions& o) {
  // A feature network that returns no features would give FID 0 and KID NaN, which look like results.
  for (const Extracted* e : {&real, &fake})
    if (e->features.defined() && e->features.dim() == 2 && e->features.size(1) == 0)
      throw Error("the feature network returned no features ([N, 0]): it must give at least one number per image");
  MetricResults r;
  for (const auto& m : o.metrics) {
    if (m == "fid") {
      r.emplace_back("fid", frechet_distance(feature_stats(real.features, "real features"),
                                             feature_stats(fake.features, "fake features")));
    } else if (m == "kid") {
      auto k = kernel_inception_distance(real.features, fake.features, o.kid_subsets, o.kid_subset_size, o.seed);
      r.emplace_back("kid_mean", k.mean);
      r.emplace_back("kid_std", k.std);
    } else if (m == "pr") {
      auto pr = precision_recall(real.features, fake.features, 3);
      r.emplace_back("precision", pr.precision);
      r.emplace_back("recall", pr.recall);
    } else if (needs_class_probabilities(m) && !fake.probs.defined()) {
      throw UsageError("--metrics " + m + " needs class probabilities: use the MNIST classifier, not --features");
    } else if (m == "accuracy") {
      if (!o.requested_labels.defined())
        throw UsageError("--metrics accuracy needs a conditional model's samples (the classes they were asked for)");
      if (o.requested_labels.size(0) != fake.probs.size(0))
        throw Error("accuracy: " + std::to_string(o.requested_labels.size(0)) + " requested labels for " +
                    std::to_string(fake.probs.size(0)) + " images");
      auto hit = fake.probs.argmax(1).cpu().eq(o.requested_labels.cpu().to(torch::kLong));
      r.emplace_back("accuracy", hit.to(torch::kDouble).mean().item<double>());
    } else if (m == "is") {
      // Ten splits, as the Inception score is published; with fewer images a split of one image
      // scores exactly 1 with no spread, which looks like a result and is not one.
      if (fake.probs.size(0) < 10)
        throw UsageError("--metrics is: the Inception score is averaged over 10 splits and needs at least 10 images, got " +
                         std::to_string(fake.probs.size(0)));
      auto s = inception_score(fake.probs, 10);
      r.emplace_back("is_mean", s.mean);
      r.emplace_back("is_std", s.std);
    } else if (m == "classes") {
      auto h = class_histogram(fake.probs);
      r.emplace_back("classes_covered", static_cast<double>(classes_covered(h)));
      for (size_t c = 0; c < h.size(); ++c)
        r.emplace_back("class_" + std::to_string(c) + "_fraction",
                       static_cast<double>(h[c]) / static_cast<double>(fake.probs.size(0)));
    }
  }
  return r;
}

Extracted real_features_cached(FeatureExtractor& extractor, const ImageSet& real, ProgressMode progress) {
  // FNV-1a over the normalised images: a cache key, not a checksum.
  auto bytes = real.images.to(torch::kCPU, torch::kFloat).contiguous();
  const uint64_t h = fnv1a(bytes.data_ptr<float>(), static_cast<size_t>(bytes.numel()) * sizeof(float));
  char name[128];
  std::snprintf(name, sizeof name, "%s-%016llx.pt", extractor.id().c_str(), static_cast<unsigned long long>(h));
  fs::path file = cache_dir() / "eval" / name;
  if (fs::exists(file)) {
    try {
      auto d = load_torch_file(file).toGenericDict();
      // A feature network without class probabilities stores none.
      return {d.at("features").toTensor(), d.contains("probs") ? d.at("probs").toTensor() : at::Tensor()};
    } catch (const std::exception&) {
      // A damaged cache entry is recomputed.
    }
  }
  Extracted e = extractor.extract(real, progress);
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (!ec) {
    c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
    d.insert("features", e.features);
    if (e.probs.defined()) d.insert("probs", e.probs);
    try {
      save_torch_file(file, d);
    } catch (const std::exception&) {
      // An unwritable cache only costs time.
    }
  }
  return e;
}

}  // namespace forgery
