// Metrics against numpy/scipy reference values (tests/fixtures/golden_eval.pt).
#include <torch/torch.h>

#include <numeric>

#include "forgery/core/error.h"
#include "forgery/eval/metrics.h"
#include "forgery/io/torch_file.h"
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
  // Two samples of one distribution: about zero.
  auto x = torch::randn({800, 16}, torch::kDouble), y = torch::randn({800, 16}, torch::kDouble);
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
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
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
  // Rank-deficient features (one column a copy of another): still a finite FID.
  auto x = torch::randn({200, 6}, torch::kDouble), y = torch::randn({200, 6}, torch::kDouble) + 0.5;
  x.select(1, 5).copy_(x.select(1, 4));
  y.select(1, 5).copy_(y.select(1, 4));
  double fid = frechet_distance(feature_stats(x), feature_stats(y));
  EXPECT_TRUE(std::isfinite(fid));
  EXPECT_GT(fid, 1.0);
}

}  // namespace
}  // namespace forgery
