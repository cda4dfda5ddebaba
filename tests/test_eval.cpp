// Metrics against numpy/scipy reference values (tests/fixtures/golden_eval.pt).
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <numeric>

#include "forgery/core/error.h"
#include "forgery/eval/metrics.h"
#include "forgery/io/torch_file.h"
#include "forgery/data/idx.h"
#include "test_util.h"

namespace forgery {
namespace {

class EvalGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fx_ = new c10::impl::GenericDict(load_torch_file(test::fixture("golden_eval.pt")).toGenericDict());
  }
  static void TearDownTestSuite() { delete fx_; }
  static at::Tensor get(const std::string& k) { return fx_->at(k).toTensor(); }
  static double num(const std::string& k) { return get(k).item<double>(); }
  static c10::impl::GenericDict* fx_;
};
c10::impl::GenericDict* EvalGolden::fx_ = nullptr;

TEST_F(EvalGolden, FidMatchesScipy) {
  double fid = frechet_distance(feature_stats(get("real")), feature_stats(get("fake")));
  EXPECT_NEAR(fid, num("fid"), 1e-6 * num("fid"));
  // identical sets: zero
  auto s = feature_stats(get("real"));
  EXPECT_NEAR(frechet_distance(s, s), 0.0, 1e-8);
}

TEST_F(EvalGolden, KidMmdMatchesNumpy) {
  double mmd = mmd2_polynomial(get("real"), get("fake"));
  EXPECT_NEAR(mmd, num("mmd2"), 1e-6 * std::abs(num("mmd2")));
  // Over subsets: near the full-set value, seeded, reproducible.
  auto a = kernel_inception_distance(get("real"), get("fake"), 20, 200, 7);
  auto b = kernel_inception_distance(get("real"), get("fake"), 20, 200, 7);
  EXPECT_EQ(a.mean, b.mean);
  EXPECT_EQ(a.subset_size, 200);
  EXPECT_NEAR(a.mean, num("mmd2"), 5 * a.std + 1e-9);
  // Two samples of one distribution: about zero (seeded: the default generator is not).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto x = at::randn({800, 16}, gen, torch::kDouble), y = at::randn({800, 16}, gen, torch::kDouble);
  EXPECT_LT(std::abs(kernel_inception_distance(x, y, 10, 400).mean), 0.05);
}

TEST_F(EvalGolden, InceptionScoreMatchesNumpy) {
  auto s = inception_score(get("probs"), 5);
  EXPECT_NEAR(s.mean, num("is_mean"), 1e-9 * num("is_mean"));
  EXPECT_NEAR(s.std, num("is_std"), 1e-9 + 1e-6 * num("is_std"));
}

TEST_F(EvalGolden, PrecisionRecallMatchNumpy) {
  auto pr = precision_recall(get("pr_real"), get("pr_fake"), 3);
  EXPECT_DOUBLE_EQ(pr.precision, num("precision"));
  EXPECT_DOUBLE_EQ(pr.recall, num("recall"));
}

TEST(Eval, ClassHistogramAndCoverage) {
  auto logits = torch::zeros({100, 10});
  for (int i = 0; i < 100; ++i) logits[i][i < 90 ? 3 : i % 10] = 5;  // mostly class 3
  auto h = class_histogram(logits);
  EXPECT_EQ(h[3], 91);
  EXPECT_EQ(std::accumulate(h.begin(), h.end(), int64_t{0}), 100);
  EXPECT_EQ(classes_covered(h), 10);  // each other class has 1, the threshold is 1
  auto collapsed = torch::zeros({100, 10});
  collapsed.select(1, 3).fill_(5);
  EXPECT_EQ(classes_covered(class_histogram(collapsed)), 1);
}

TEST(Eval, BadFeaturesGetClearErrors) {
  auto message = [](auto&& f) { return test::error_message(f); };
  auto nan = torch::randn({50, 4});
  nan[3][2] = NAN;
  EXPECT_NE(message([&] { feature_stats(nan, "fake features"); }).find("NaN"), std::string::npos);
  std::string msg = message([&] { feature_stats(torch::randn({10, 16})); });
  EXPECT_NE(msg.find("more samples than the feature dimension (16)"), std::string::npos) << msg;
  msg = message([&] { frechet_distance(feature_stats(torch::randn({50, 4})), feature_stats(torch::randn({50, 5}))); });
  EXPECT_NE(msg.find("dimensions differ"), std::string::npos) << msg;
  msg = message([&] { precision_recall(torch::randn({50, 4}), torch::randn({50, 6})); });
  EXPECT_NE(msg.find("dimensions differ"), std::string::npos) << msg;
  msg = message([&] { inception_score(torch::randn({50, 4}), 5); });
  EXPECT_NE(msg.find("probability"), std::string::npos) << msg;
}

TEST(Eval, SingularCovariancesUseTheEpsOffset) {
  // Rank-deficient features (one column a copy of another): still a finite FID. Seeded: LibTorch
  // seeds its default generator at random in every process.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  auto x = at::randn({200, 6}, gen, torch::kDouble), y = at::randn({200, 6}, gen, torch::kDouble) + 0.5;
  x.select(1, 5).copy_(x.select(1, 4));
  y.select(1, 5).copy_(y.select(1, 4));
  double fid = frechet_distance(feature_stats(x), feature_stats(y));
  EXPECT_TRUE(std::isfinite(fid));
  // The means' term, and a covariance term (a squared Bures distance) that is not negative and is
  // small for two samples of one covariance.
  const double means = (x.mean(0) - y.mean(0)).pow(2).sum().item<double>();
  EXPECT_GT(means, 0.5);
  EXPECT_GE(fid, means - 1e-6);
  EXPECT_LT(fid, means + 0.5);
}

}  // namespace
}  // namespace forgery

#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/eval/classifier.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/state_dict.h"

namespace forgery {
namespace {

namespace fs = std::filesystem;

class EvalPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_threads(2);  // as a run does (MKL builds: a thread count that holds)
    test::write_fake_mnist(tmp_ / "data", 400, 300);
  }
  fs::path classifier() {
    ClassifierTraining o;
    o.epochs = 1;
    o.progress = ProgressMode::Off;
    return train_mnist_classifier(tmp_ / "data", tmp_ / "cls.pt", o).file;
  }
  test::TempDir tmp_;
};

TEST_F(EvalPipeline, ClassifierTrainsDeterministicallyAndLearns) {
  ClassifierTraining o;
  o.epochs = 1;
  o.progress = ProgressMode::Off;
  auto a = train_mnist_classifier(tmp_ / "data", tmp_ / "a.pt", o);
  auto b = train_mnist_classifier(tmp_ / "data", tmp_ / "b.pt", o);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  auto na = load_mnist_classifier(a.file), nb = load_mnist_classifier(b.file);
  auto sa = module_state(*na), sb = module_state(*nb);
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_GT(a.test_accuracy, 0.5);  // the generated digits are bars whose position is the label
}

TEST_F(EvalPipeline, RealAgainstFakeFromFilesWritesAReport) {
  fs::path cls = classifier();
  auto r = test::run_forgery("eval --real '" + (tmp_ / "data/t10k-images-idx3-ubyte.gz").string() + "' --fake '" +
                                 (tmp_ / "data/train-images-idx3-ubyte.gz").string() + "' --classifier '" + cls.string() +
                                 "' --out '" + (tmp_ / "report.json").string() + "'",
                             tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* k : {"fid", "kid_mean", "precision", "recall", "is_mean", "classes_covered"})
    EXPECT_NE(r.out.find(k), std::string::npos) << k;
  std::string report = read_file(tmp_ / "report.json");
  EXPECT_NE(report.find("\"fid\""), std::string::npos);
}

TEST_F(EvalPipeline, RealAgainstFakeWithoutDataUsesTheCachedClassifierOfTheDefaultMnist) {
  // As train finds MNIST: the cache's mnist/ folder, and its classifier already cached there.
  setenv("FORGERY_CACHE", (tmp_ / "cache").c_str(), 1);
  test::write_fake_mnist(tmp_ / "cache" / "mnist", 400, 300);
  ClassifierTraining o;
  o.epochs = 1;
  o.progress = ProgressMode::Off;
  fs::path cls = train_mnist_classifier(tmp_ / "cache" / "mnist", default_classifier_path(tmp_ / "cache" / "mnist"), o).file;
  auto r = test::run_forgery("eval --metrics fid --real '" + (tmp_ / "data/t10k-images-idx3-ubyte.gz").string() +
                                 "' --fake '" + (tmp_ / "data/train-images-idx3-ubyte.gz").string() + "'",
                             tmp_.path());
  unsetenv("FORGERY_CACHE");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("MNIST classifier " + cls.string()), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("training one"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("fid"), std::string::npos) << r.out;
}

TEST_F(EvalPipeline, BadInputsAreNamed) {
  fs::path cls = classifier();
  // different image shapes
  IdxArray small{{20, 14, 14}, std::vector<uint8_t>(20 * 196, 7)};
  test::write_bytes(tmp_ / "small.idx", encode_idx(small));
  auto r = test::run_forgery("eval --real '" + (tmp_ / "data/t10k-images-idx3-ubyte.gz").string() + "' --fake '" +
                                 (tmp_ / "small.idx").string() + "' --classifier '" + cls.string() + "'",
                             tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("differ in shape"), std::string::npos) << r.err;
  // 14x14 on both sides: the classifier needs 28x28
  r = test::run_forgery("eval --real '" + (tmp_ / "small.idx").string() + "' --fake '" + (tmp_ / "small.idx").string() +
                            "' --classifier '" + cls.string() + "'",
                        tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("needs 1x28x28"), std::string::npos) << r.err;
  // a file that is not a classifier
  r = test::run_forgery("eval --real '" + (tmp_ / "small.idx").string() + "' --fake '" + (tmp_ / "small.idx").string() +
                            "' --classifier '" + test::fixture("py_nested.pt").string() + "'",
                        tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a Forgery MNIST classifier"), std::string::npos) << r.err;
  // unknown metric
  r = test::run_forgery("eval --metrics fid,sharpness --real a --fake b", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sharpness'"), std::string::npos) << r.err;
  // options for a model, given with two image sets
  const std::string sets = " --real '" + (tmp_ / "small.idx").string() + "' --fake '" + (tmp_ / "small.idx").string() + "'";
  r = test::run_forgery("eval --n 50" + sets, tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval --n: the number of images to generate is for a run folder"), std::string::npos) << r.err;
  r = test::run_forgery("eval --no-ema" + sets, tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval --no-ema"), std::string::npos) << r.err;
  // a report name that is a folder: refused before anything is read (the bad classifier is not reached)
  fs::create_directories(tmp_ / "reports");
  r = test::run_forgery("eval" + sets + " --classifier '" + test::fixture("py_nested.pt").string() + "' --out '" +
                            (tmp_ / "reports").string() + "'",
                        tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval --out: " + (tmp_ / "reports").string() + " is a folder; give a file name"), std::string::npos)
      << r.err;
  // the same for the classifier's file, before a minute of training
  r = test::run_forgery("eval train-classifier --data '" + (tmp_ / "data").string() + "' --out '" +
                            (tmp_ / "reports").string() + "'",
                        tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("eval train-classifier --out: " + (tmp_ / "reports").string() + " is a folder"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.out.find("test accuracy"), std::string::npos) << r.out;
}

TEST_F(EvalPipeline, EvaluatesARunAndWritesItsReport) {
  fs::path cls = classifier();
  auto r = test::run_forgery("train gan-mnist --epochs 1 --set progress=off --data '" + (tmp_ / "data").string() +
                                 "' --out '" + (tmp_ / "run").string() + "'",
                             tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = test::run_forgery("eval '" + (tmp_ / "run").string() + "' --n 500 --metrics fid,pr,classes --classifier '" +
                            cls.string() + "'",
                        tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A report that cannot be written is refused before the 500 images are generated and measured.
  fs::create_directories(tmp_ / "folder.json");
  auto refused = test::run_forgery("eval '" + (tmp_ / "run").string() + "' --n 500 --classifier '" + cls.string() +
                                       "' --out '" + (tmp_ / "folder.json").string() + "'",
                                   tmp_.path());
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("is a folder; give a file name"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out.find("metric"), std::string::npos) << refused.out;
  r = test::run_forgery("eval '" + (tmp_ / "run").string() + "' --n 500 --metrics fid,pr,classes --classifier '" +
                            cls.string() + "'",
                        tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string report = read_file(tmp_ / "run/eval/last.json");
  EXPECT_NE(report.find("\"fid\""), std::string::npos);
  EXPECT_NE(report.find("\"epoch\": 1"), std::string::npos) << report;
  EXPECT_NE(report.find("\"fake_count\": 500"), std::string::npos) << report;
}

}  // namespace
}  // namespace forgery

namespace forgery {
namespace {

TEST(EvalTorchScript, FeaturesMatchPyTorchsPreprocessingAndNetwork) {
  auto fx = load_torch_file(test::fixture("golden_ts_features.pt")).toGenericDict();
  auto extractor = torchscript_features(test::fixture("ts_features.pt"));
  ImageSet set{fx.at("images").toTensor(), "fixture"};
  auto e = extractor->extract(set, ProgressMode::Off);
  auto want = fx.at("features").toTensor();
  ASSERT_EQ(e.features.sizes(), want.sizes());
  EXPECT_TRUE(torch::allclose(e.features, want, 1e-5, 1e-6)) << (e.features - want).abs().max();
  EXPECT_FALSE(e.probs.defined());
}

// The real set's features are cached by the images and by the feature network's content: a
// network without class probabilities caches its features alone (and reads them back), and a
// classifier trained again under the same name gets a cache entry of its own.
TEST(EvalCache, RealFeaturesAreKeptPerNetworkContentAndWithoutProbabilities) {
  test::TempDir tmp;
  setenv("FORGERY_CACHE", (tmp / "cache").c_str(), 1);
  auto fx = load_torch_file(test::fixture("golden_ts_features.pt")).toGenericDict();
  auto extractor = torchscript_features(test::fixture("ts_features.pt"));
  ImageSet set{fx.at("images").toTensor(), "fixture"};
  Extracted first = real_features_cached(*extractor, set, ProgressMode::Off);
  auto entries = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(tmp / "cache" / "eval")) n += e.is_regular_file();
    return n;
  };
  ASSERT_EQ(entries(), 1u);
  Extracted again = real_features_cached(*extractor, set, ProgressMode::Off);
  EXPECT_EQ(entries(), 1u);
  EXPECT_TRUE(torch::equal(again.features, first.features));
  EXPECT_FALSE(again.probs.defined());
  test::write_fake_mnist(tmp / "data", 300, 100);
  ClassifierTraining o;
  o.epochs = 1;
  o.progress = ProgressMode::Off;
  for (int64_t seed : {1, 2}) {
    o.seed = seed;
    train_mnist_classifier(tmp / "data", tmp / ("seed" + std::to_string(seed)) / "mnist-cnn.pt", o);
  }
  EXPECT_NE(mnist_classifier_features(tmp / "seed1" / "mnist-cnn.pt")->id(),
            mnist_classifier_features(tmp / "seed2" / "mnist-cnn.pt")->id());
  unsetenv("FORGERY_CACHE");
}

TEST(EvalTorchScript, BadNetworksAreNamed) {
  auto message = [](auto&& f) { return test::error_message(f); };
  std::string msg = message([] { torchscript_features(test::fixture("py_nested.pt")); });
  EXPECT_NE(msg.find("not a TorchScript network"), std::string::npos) << msg;
  msg = message([] { torchscript_features(test::fixture("absent.pt")); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  // Networks that cannot give features fail when loaded: a test batch of two images goes through.
  msg = message([] { torchscript_features(test::fixture("ts_bad_shape.pt")); });
  EXPECT_NE(msg.find("returned shape [2, 8, 5, 5]"), std::string::npos) << msg;
  // A script that raises (TorchScript's own exception type, not c10::Error): named too.
  msg = message([] { torchscript_features(test::fixture("ts_raises.pt")); });
  EXPECT_NE(msg.find("--features " + test::fixture("ts_raises.pt").string() + " failed on a batch of [2, 3, 299, 299]"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("this feature network refuses every batch"), std::string::npos) << msg;
  // is and classes need class probabilities
  Extracted no_probs{torch::randn({50, 4}), at::Tensor()};
  EvalOptions o;
  o.metrics = {"is"};
  msg = message([&] { compute_metrics(no_probs, no_probs, o); });
  EXPECT_NE(msg.find("needs class probabilities"), std::string::npos) << msg;
  // a feature network that returns no features
  Extracted empty{torch::zeros({50, 0}), at::Tensor()};
  o.metrics = {"fid", "kid"};
  msg = message([&] { compute_metrics(empty, empty, o); });
  EXPECT_NE(msg.find("returned no features ([N, 0])"), std::string::npos) << msg;
  o.metrics = {"is"};
  // fewer images than the score's 10 splits
  Extracted few{torch::randn({5, 4}), torch::softmax(torch::randn({5, 10}), 1)};
  msg = message([&] { compute_metrics(few, few, o); });
  EXPECT_NE(msg.find("needs at least 10 images, got 5"), std::string::npos) << msg;
}

}  // namespace
}  // namespace forgery
