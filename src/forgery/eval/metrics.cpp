#include "forgery/eval/metrics.h"

#include <torch/torch.h>

#include <cmath>

#include "forgery/core/error.h"

namespace forgery {

namespace {
at::Tensor as_double(const at::Tensor& x, const std::string& what) {
  if (x.dim() != 2) throw Error(what + ": expected a [N, D] feature matrix");
  auto d = x.detach().to(torch::kCPU, torch::kDouble).contiguous();
  if (!torch::isfinite(d).all().item<bool>()) throw Error(what + " contain NaN or infinite values");
  return d;
}

// Symmetric square root through eigendecomposition, negative eigenvalues (rounding) clamped.
at::Tensor sqrt_psd(const at::Tensor& s) {
  auto [w, v] = torch::linalg_eigh(s);
  return v.matmul(torch::diag(w.clamp_min(0).sqrt())).matmul(v.t());
}

double trace_sqrt_product(const at::Tensor& s1, const at::Tensor& s2) {
  auto r = sqrt_psd(s1);
  auto m = r.matmul(s2).matmul(r);
  m = (m + m.t()) / 2;  // symmetric up to rounding
  return torch::linalg_eigvalsh(m).clamp_min(0).sqrt().sum().item<double>();
}

bool well_conditioned(const at::Tensor& s) {
  auto w = torch::linalg_eigvalsh(s);
  double lo = w.min().item<double>(), hi = w.max().item<double>();
  return std::isfinite(lo) && lo > -1e-10 * std::max(1.0, std::abs(hi));
}
}  // namespace

FeatureStats feature_stats(const at::Tensor& features, const std::string& what) {
  auto x = as_double(features, what);
  const int64_t n = x.size(0), d = x.size(1);
  if (n <= d)
    throw Error(what + ": FID needs more samples than the feature dimension (" + std::to_string(d) + "); got " +
                std::to_string(n) + " samples");
  FeatureStats s;
  s.mean = x.mean(0);
  auto c = x - s.mean;
  s.covariance = c.t().matmul(c) / static_cast<double>(n - 1);
  s.count = n;
  return s;
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b, double eps) {
  if (a.mean.size(0) != b.mean.size(0))
    throw Error("FID: the feature dimensions differ (" + std::to_string(a.mean.size(0)) + " and " +
                std::to_string(b.mean.size(0)) + ")");
  auto diff = a.mean - b.mean;
  double tr_sqrt;
  if (well_conditioned(a.covariance) && well_conditioned(b.covariance)) {
    tr_sqrt = trace_sqrt_product(a.covariance, b.covariance);
  } else {
    auto offset = torch::eye(a.mean.size(0), torch::kDouble) * eps;
    tr_sqrt = trace_sqrt_product(a.covariance + offset, b.covariance + offset);
  }
  double fid = diff.dot(diff).item<double>() + a.covariance.trace().item<double>() +
               b.covariance.trace().item<double>() - 2 * tr_sqrt;
  return fid;
}

double mmd2_polynomial(const at::Tensor& x_in, const at::Tensor& y_in) {
  auto x = as_double(x_in, "KID features"), y = as_double(y_in, "KID features");
  if (x.size(1) != y.size(1)) throw Error("KID: the feature dimensions differ");
  const double d = static_cast<double>(x.size(1));
  const int64_t m = x.size(0), n = y.size(0);
  if (m < 2 || n < 2) throw Error("KID needs at least 2 samples in each set");
  auto kxx = (x.matmul(x.t()) / d + 1).pow(3), kyy = (y.matmul(y.t()) / d + 1).pow(3);
  auto kxy = (x.matmul(y.t()) / d + 1).pow(3);
  double sxx = (kxx.sum() - kxx.diagonal().sum()).item<double>() / (m * (m - 1.0));
  double syy = (kyy.sum() - kyy.diagonal().sum()).item<double>() / (n * (n - 1.0));
  return sxx + syy - 2 * kxy.mean().item<double>();
}

KidResult kernel_inception_distance(const at::Tensor& real, const at::Tensor& fake, int64_t subsets,
                                    int64_t subset_size, uint64_t seed) {
  auto x = as_double(real, "real features"), y = as_double(fake, "fake features");
  KidResult r;
  r.subsets = subsets;
  r.subset_size = std::min({subset_size, x.size(0), y.size(0)});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<double> values;
  for (int64_t i = 0; i < subsets; ++i) {
    auto ix = at::randperm(x.size(0), gen, torch::kLong).narrow(0, 0, r.subset_size);
    auto iy = at::randperm(y.size(0), gen, torch::kLong).narrow(0, 0, r.subset_size);
    values.push_back(mmd2_polynomial(x.index_select(0, ix), y.index_select(0, iy)));
  }
  auto t = torch::tensor(values, torch::kDouble);
  r.mean = t.mean().item<double>();
  r.std = subsets > 1 ? t.std(/*unbiased=*/false).item<double>() : 0.0;
  return r;
}

ScoreResult inception_score(const at::Tensor& probs_in, int64_t splits) {
  auto p = as_double(probs_in, "class probabilities");
  const int64_t n = p.size(0);
  if (splits < 1 || n < splits) throw Error("Inception score: need at least one sample per split");
  if ((p < 0).any().item<bool>() || ((p.sum(1) - 1).abs() > 1e-4).any().item<bool>())
    throw Error("Inception score: the rows are not probability distributions");
  std::vector<double> scores;
  for (int64_t s = 0; s < splits; ++s) {
    auto part = p.narrow(0, s * n / splits, (s + 1) * n / splits - s * n / splits);
    auto py = part.mean(0, true);
    auto kl = (part * (part.clamp_min(1e-300).log() - py.clamp_min(1e-300).log())).sum(1);
    scores.push_back(std::exp(kl.mean().item<double>()));
  }
  auto t = torch::tensor(scores, torch::kDouble);
  return {t.mean().item<double>(), splits > 1 ? t.std(false).item<double>() : 0.0};
}

namespace {
// Distance from each row of `a` to its k-th nearest neighbour among the rows of `a` (itself
// excluded), computed in blocks to bound memory.
at::Tensor kth_radius(const at::Tensor& a, int64_t k) {
  std::vector<at::Tensor> out;
  for (int64_t s = 0; s < a.size(0); s += 1024) {
    auto block = a.narrow(0, s, std::min<int64_t>(1024, a.size(0) - s));
    auto d = torch::cdist(block, a);
    out.push_back(std::get<0>(d.topk(k + 1, 1, /*largest=*/false)).select(1, k));  // index 0 is itself
  }
  return torch::cat(out);
}

// Fraction of rows of `q` inside some ball (centre a row of `centres`, radius its radius).
double coverage(const at::Tensor& q, const at::Tensor& centres, const at::Tensor& radius) {
  int64_t inside = 0;
  for (int64_t s = 0; s < q.size(0); s += 1024) {
    auto block = q.narrow(0, s, std::min<int64_t>(1024, q.size(0) - s));
    auto d = torch::cdist(block, centres);
    inside += (d <= radius.unsqueeze(0)).any(1).sum().item<int64_t>();
  }
  return static_cast<double>(inside) / static_cast<double>(q.size(0));
}
}  // namespace

PrecisionRecall precision_recall(const at::Tensor& real_in, const at::Tensor& fake_in, int64_t k) {
  auto real = as_double(real_in, "real features"), fake = as_double(fake_in, "fake features");
  if (real.size(1) != fake.size(1)) throw Error("precision/recall: the feature dimensions differ");
  if (real.size(0) <= k || fake.size(0) <= k)
    throw Error("precision/recall needs more than k = " + std::to_string(k) + " samples in each set");
  auto rr = kth_radius(real, k), rf = kth_radius(fake, k);
  return {coverage(fake, real, rr), coverage(real, fake, rf)};
}

std::vector<int64_t> class_histogram(const at::Tensor& scores) {
  if (scores.dim() != 2) throw Error("class histogram: expected [N, classes] scores");
  auto cls = scores.argmax(1).to(torch::kCPU);
  auto counts = torch::bincount(cls, {}, scores.size(1));
  std::vector<int64_t> h(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  return h;
}

int64_t classes_covered(const std::vector<int64_t>& h) {
  int64_t total = 0, covered = 0;
  for (auto c : h) total += c;
  for (auto c : h) covered += (10.0 * c * static_cast<double>(h.size()) >= static_cast<double>(total)) && c > 0;
  return covered;
}

}  // namespace forgery
