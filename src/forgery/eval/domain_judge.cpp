#include "forgery/eval/domain_judge.h"

#include <torch/torch.h>

#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/hash.h"
#include "forgery/core/fs.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"

namespace forgery {

DomainJudgeImpl::DomainJudgeImpl(int64_t channels) {
  using namespace torch::nn;
  // Created one by one, in order, so that the seeded initialisation is reproducible.
  conv1 = register_module("conv1", Conv2d(Conv2dOptions(channels, 32, 4).stride(2).padding(1)));
  conv2 = register_module("conv2", Conv2d(Conv2dOptions(32, 64, 4).stride(2).padding(1).bias(false)));
  bn2 = register_module("bn2", BatchNorm2d(64));
  conv3 = register_module("conv3", Conv2d(Conv2dOptions(64, 128, 4).stride(2).padding(1).bias(false)));
  bn3 = register_module("bn3", BatchNorm2d(128));
  conv4 = register_module("conv4", Conv2d(Conv2dOptions(128, 256, 4).stride(2).padding(1).bias(false)));
  bn4 = register_module("bn4", BatchNorm2d(256));
  fc1 = register_module("fc1", Linear(256, 64));
  fc2 = register_module("fc2", Linear(64, 2));
}

at::Tensor DomainJudgeImpl::features(const at::Tensor& x) {
  auto h = torch::leaky_relu(conv1->forward(x), 0.2);         // 32x32
  h = torch::leaky_relu(bn2->forward(conv2->forward(h)), 0.2);  // 16x16
  h = torch::leaky_relu(bn3->forward(conv3->forward(h)), 0.2);  // 8x8
  h = torch::leaky_relu(bn4->forward(conv4->forward(h)), 0.2);  // 4x4
  return torch::relu(fc1->forward(h.mean({2, 3})));
}

at::Tensor judge_input(const at::Tensor& images) {
  at::Tensor x = images.to(torch::kCPU, torch::kFloat);
  if (x.size(2) != kJudgeSize || x.size(3) != kJudgeSize)
    x = at::_upsample_bilinear2d_aa(x, {kJudgeSize, kJudgeSize}, /*align_corners=*/false, c10::nullopt, c10::nullopt)
            .clamp_(-1, 1);
  return x.contiguous();
}

namespace {
uint64_t content_key(const at::Tensor& a, const at::Tensor& b) {
  // FNV-1a over the images' bytes and shapes: a cache key, not a checksum against tampering.
  uint64_t h = kFnvOffset;
  for (const at::Tensor* t : {&a, &b}) {
    at::Tensor c = t->to(torch::kCPU).contiguous();
    for (int64_t s : c.sizes()) h = fnv1a_word(static_cast<uint64_t>(s), h);
    h = fnv1a(c.data_ptr<uint8_t>(), static_cast<size_t>(c.numel()), h);
  }
  return h;
}

class JudgeFeatures : public FeatureExtractor {
 public:
  JudgeFeatures(std::filesystem::path file, DomainJudge net) : file_(std::move(file)), net_(std::move(net)) {}
  std::string id() const override { return "domain-judge-" + file_.stem().string(); }
  Extracted extract(const ImageSet& set, ProgressMode progress) override {
    if (set.images.size(1) != net_->conv1->options.in_channels())
      throw Error(set.name + ": the domain judge takes " + std::to_string(net_->conv1->options.in_channels()) +
                  "-channel images, these have " + std::to_string(set.images.size(1)));
    torch::NoGradGuard no_grad;
    net_->eval();
    return extract_in_batches(set.images, 200, progress, [&](const at::Tensor& b) {
      auto f = net_->features(judge_input(b));
      return Extracted{f, torch::softmax(net_->logits_from_features(f), 1)};
    });
  }

 private:
  std::filesystem::path file_;
  DomainJudge net_;
};
}  // namespace

std::filesystem::path default_judge_path(const at::Tensor& a, const at::Tensor& b) {
  char name[64];
  std::snprintf(name, sizeof name, "domain-judge-v1-%016llx.pt", static_cast<unsigned long long>(content_key(a, b)));
  return cache_dir() / "judges" / name;
}

JudgeResult train_domain_judge(const at::Tensor& a, const at::Tensor& b, const std::filesystem::path& file,
                               const JudgeTraining& o) {
  if (a.size(1) != b.size(1))
    throw Error("the domain judge needs domains of one channel count, got " + std::to_string(a.size(1)) + " and " +
                std::to_string(b.size(1)));
  if (a.size(0) < 2 || b.size(0) < 2) throw Error("the domain judge needs at least two images of each domain");
  // Every tenth image of each domain is held out to measure the judge.
  auto split = [](const at::Tensor& images, bool holdout) {
    at::Tensor idx = torch::arange(images.size(0), torch::kLong);
    at::Tensor keep = holdout ? idx.remainder(10) == 9 : idx.remainder(10) != 9;
    return judge_input(normalize_bytes(images.to(torch::kCPU).index({keep})));
  };
  at::Tensor xa = split(a, false), xb = split(b, false), ha = split(a, true), hb = split(b, true);
  at::Tensor x = torch::cat({xa, xb}), y = torch::cat({torch::zeros({xa.size(0)}, torch::kLong), torch::ones({xb.size(0)}, torch::kLong)});
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  DomainJudge net(a.size(1));
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  const int64_t n = x.size(0), batches = (n + o.batch_size - 1) / o.batch_size;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    auto perm = torch::randperm(n, torch::kLong);
    ProgressBar bar("domain judge epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), batches, o.batch_size,
                    o.progress);
    for (int64_t i = 0; i < batches; ++i) {
      auto idx = perm.narrow(0, i * o.batch_size, std::min(o.batch_size, n - i * o.batch_size));
      // Mirrored at random: the judge should see content, not a side.
      at::Tensor batch = x.index_select(0, idx);
      at::Tensor flip = (torch::rand({batch.size(0)}) < 0.5).view({-1, 1, 1, 1});
      batch = torch::where(flip, batch.flip({3}), batch);
      opt.zero_grad();
      auto loss = torch::cross_entropy_loss(net->forward(batch), y.index_select(0, idx));
      loss.backward();
      opt.step();
      bar.update(i + 1, (i + 1) * o.batch_size);
    }
    bar.finish();
  }
  JudgeResult r;
  {
    torch::NoGradGuard no_grad;
    net->eval();
    int64_t correct = 0, total = 0;
    if (ha.size(0) > 0) correct += (net->forward(ha).argmax(1) == 0).sum().item<int64_t>(), total += ha.size(0);
    if (hb.size(0) > 0) correct += (net->forward(hb).argmax(1) == 1).sum().item<int64_t>(), total += hb.size(0);
    r.holdout_accuracy = total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : NAN;
  }
  r.file = file;
  save_network_file(file, "forgery-domain-judge",
                    {{"channels", a.size(1)}, {"holdout_accuracy", r.holdout_accuracy}, {"seed", o.seed},
                     {"epochs", o.epochs}},
                    *net);
  return r;
}

std::unique_ptr<FeatureExtractor> domain_judge_features(const std::filesystem::path& file, double* holdout_accuracy) {
  auto d = read_network_file(file, "forgery-domain-judge", "is not a Forgery domain judge");
  DomainJudge net(d.at("channels").toInt());
  load_module_state(*net, tensors_of(d.at("state_dict"), file.string()), "domain judge " + file.string());
  net->eval();
  if (holdout_accuracy) *holdout_accuracy = d.at("holdout_accuracy").toDouble();
  return std::make_unique<JudgeFeatures>(file, net);
}

}  // namespace forgery
