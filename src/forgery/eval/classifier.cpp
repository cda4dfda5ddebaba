#include "forgery/eval/classifier.h"

#include <torch/torch.h>

#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/hash.h"
#include "forgery/core/fs.h"
#include "forgery/data/mnist.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/io/torch_file.h"
#include "forgery/io/state_dict.h"

namespace forgery {

MnistClassifierImpl::MnistClassifierImpl() {
  // Created one by one, in order, so that seeded initialisation is reproducible.
  conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 32, 3).padding(1)));
  conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)));
  fc1 = register_module("fc1", torch::nn::Linear(64 * 7 * 7, 128));
  fc2 = register_module("fc2", torch::nn::Linear(128, 10));
}

at::Tensor MnistClassifierImpl::features(const at::Tensor& x) {
  auto h = torch::max_pool2d(torch::relu(conv1->forward(x)), 2);  // 14x14
  h = torch::max_pool2d(torch::relu(conv2->forward(h)), 2);       // 7x7
  h = torch::dropout(h, 0.25, is_training());
  return torch::relu(fc1->forward(h.flatten(1)));
}

namespace {
// FNV-1a over the files' bytes: a cache key, not a checksum against tampering.
uint64_t content_key(const std::filesystem::path& dir) {
  uint64_t h = kFnvOffset;
  for (const char* base : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"}) {
    auto p = find_idx_file(dir, base);
    if (p.empty()) continue;
    h = fnv1a(read_file(p, "IDX file"), h);
  }
  return h;
}

double accuracy(MnistClassifier& net, const TensorDataset& ds) {
  torch::NoGradGuard no_grad;
  net->eval();
  int64_t correct = 0;
  for (int64_t s = 0; s < ds.size(); s += 1000) {
    int64_t n = std::min<int64_t>(1000, ds.size() - s);
    auto pred = net->forward(ds.images.narrow(0, s, n)).argmax(1);
    correct += (pred == ds.labels.narrow(0, s, n)).sum().item<int64_t>();
  }
  net->train();
  return static_cast<double>(correct) / static_cast<double>(ds.size());
}
}  // namespace

std::filesystem::path default_classifier_path(const std::filesystem::path& data_dir) {
  char name[64];
  std::snprintf(name, sizeof name, "mnist-cnn-v1-%016llx.pt", static_cast<unsigned long long>(content_key(data_dir)));
  return cache_dir() / "classifiers" / name;
}

ClassifierResult train_mnist_classifier(const std::filesystem::path& data_dir, const std::filesystem::path& file,
                                        const ClassifierTraining& o) {
  auto train = load_mnist_family(data_dir, true, torch::kCPU);
  auto test = load_mnist_family(data_dir, false, torch::kCPU);
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  MnistClassifier net;
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  const int64_t n = train.size(), batches = (n + o.batch_size - 1) / o.batch_size;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    // The learning rate falls by 0.6 every epoch after the first.
    for (auto& g : opt.param_groups())
      static_cast<torch::optim::AdamOptions&>(g.options()).lr(o.lr * std::pow(0.6, epoch - 1));
    auto perm = torch::randperm(n, torch::kLong);
    ProgressBar bar("classifier epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), batches,
                    o.batch_size, o.progress);
    for (int64_t b = 0; b < batches; ++b) {
      auto idx = perm.narrow(0, b * o.batch_size, std::min(o.batch_size, n - b * o.batch_size));
      // Augmentation: the batch moved by a random offset of up to 2 pixels each way (padded
      // with background), which lifts test accuracy above 99% within a few epochs.
      auto shift = torch::randint(-2, 3, {2}, torch::kLong);
      const int64_t dy = shift[0].item<int64_t>(), dx = shift[1].item<int64_t>();
      auto padded = torch::constant_pad_nd(train.images.index_select(0, idx), {2, 2, 2, 2}, -1.0);
      auto batch = padded.narrow(2, 2 + dy, 28).narrow(3, 2 + dx, 28);
      opt.zero_grad();
      auto loss = torch::cross_entropy_loss(net->forward(batch), train.labels.index_select(0, idx));
      loss.backward();
      opt.step();
      bar.update(b + 1, (b + 1) * o.batch_size);
    }
    bar.finish();
  }
  ClassifierResult r;
  r.test_accuracy = accuracy(net, test);
  r.file = file;
  save_network_file(file, "forgery-mnist-classifier",
                    {{"test_accuracy", r.test_accuracy}, {"seed", o.seed}, {"epochs", o.epochs}}, *net);
  return r;
}

MnistClassifier load_mnist_classifier(const std::filesystem::path& file, double* test_accuracy) {
  auto d = read_network_file(file, "forgery-mnist-classifier",
                             "is not a Forgery MNIST classifier (train one with `forgery eval train-classifier`)");
  MnistClassifier net;
  load_module_state(*net, tensors_of(d.at("state_dict"), file.string()), "classifier " + file.string());
  net->eval();
  if (test_accuracy) *test_accuracy = d.at("test_accuracy").toDouble();
  return net;
}

}  // namespace forgery
