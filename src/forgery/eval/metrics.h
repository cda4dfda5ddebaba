#pragma once
// Sample-quality metrics on feature sets, in float64: FID, KID, an Inception-Score-style
// score, improved precision and recall, class histograms. Each is checked against numpy/scipy
// on fixed feature sets (tests/fixtures/golden_eval.pt).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace forgery {

struct FeatureStats {
  at::Tensor mean;        // [D] float64
  at::Tensor covariance;  // [D, D] float64, unbiased (N - 1)
  int64_t count = 0;
};

// Errors (naming `what`) for NaN or infinite features, and for fewer samples than FID needs.
FeatureStats feature_stats(const at::Tensor& features, const std::string& what = "features");

// ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)), the trace of the square root taken
// from the eigenvalues of the symmetric sqrt(S1) S2 sqrt(S1). When the covariances are
// singular enough for that to fail, eps is added to both diagonals (as pytorch-fid does).
double frechet_distance(const FeatureStats& a, const FeatureStats& b, double eps = 1e-6);

// Unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3.
double mmd2_polynomial(const at::Tensor& x, const at::Tensor& y);
struct KidResult {
  double mean = 0, std = 0;
  int64_t subsets = 0, subset_size = 0;
};
// MMD^2 over `subsets` random subsets of min(subset_size, n_real, n_fake) from each set.
KidResult kernel_inception_distance(const at::Tensor& real, const at::Tensor& fake, int64_t subsets = 100,
                                    int64_t subset_size = 1000, uint64_t seed = 0);

struct ScoreResult {
  double mean = 0, std = 0;
};
// exp(E_x KL(p(y|x) || p(y))) over `splits` equal parts; `probs` [N, C] rows sum to 1.
ScoreResult inception_score(const at::Tensor& probs, int64_t splits = 10);

struct PrecisionRecall {
  double precision = 0, recall = 0;
};
// Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union
// of balls reaching each sample's k-th nearest neighbour in the same set.
PrecisionRecall precision_recall(const at::Tensor& real, const at::Tensor& fake, int64_t k = 3);

// Counts of argmax classes; a class is covered when it gets at least a tenth of its uniform share.
std::vector<int64_t> class_histogram(const at::Tensor& logits_or_probs);
int64_t classes_covered(const std::vector<int64_t>& histogram);

}  // namespace forgery
