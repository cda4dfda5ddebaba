#include "forgery/train/translation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <torch/csrc/autograd/grad_mode.h>

#include "forgery/core/rng.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/grid.h"

namespace forgery {

at::Tensor to_bytes(const at::Tensor& images) {
  // The rounding of the PNG writers (torchvision's save_image).
  return to_unit_range(images).mul_(255).add_(0.5).clamp_(0, 255).to(at::kByte);
}

at::Tensor to_channels(const at::Tensor& images, int64_t channels) {
  if (images.size(1) == channels) return images;
  return images.expand({images.size(0), channels, images.size(2), images.size(3)});
}

at::Tensor run_generator(ImageNet& G, const at::Tensor& x, bool eval_mode) {
  torch::NoGradGuard no_grad;
  const bool was_training = G.is_training();
  G.train(!eval_mode);
  at::Tensor y = G.forward(x);
  G.train(was_training);
  return y;
}

at::Tensor translate_images(ImageNet& G, const at::Tensor& images, const TranslateOptions& o) {
  seed_everything(o.seed);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i)
    out.push_back(to_bytes(run_generator(G, normalize_bytes(images.narrow(0, i, 1).to(o.device)), o.eval_mode)).cpu());
  return at::cat(out);
}

CycleEvaluation evaluate_cycle(ImageNet& a_to_b, ImageNet& b_to_a, const at::Tensor& test_a, const at::Tensor& test_b,
                               FeatureExtractor& judge, FeatureExtractor& features, const TranslateOptions& o) {
  CycleEvaluation ev;
  double kids = 0;
  seed_everything(o.seed);
  struct Direction {
    const char *name, *cycle;
    const at::Tensor& source;
    const at::Tensor& target;
    ImageNet &forward, &back;
    int64_t target_label;  // the judge's label of the target domain
  };
  for (const Direction& d : {Direction{"AtoB", "cycle_A_l1", test_a, test_b, a_to_b, b_to_a, 1},
                             Direction{"BtoA", "cycle_B_l1", test_b, test_a, b_to_a, a_to_b, 0}}) {
    std::vector<at::Tensor> fakes;
    double cycle = 0;
    for (int64_t i = 0; i < d.source.size(0); ++i) {
      at::Tensor real = normalize_bytes(d.source.narrow(0, i, 1).to(o.device));
      at::Tensor fake = run_generator(d.forward, real, o.eval_mode);
      at::Tensor rec = run_generator(d.back, fake, o.eval_mode);
      fakes.push_back(to_bytes(fake).cpu());
      cycle += (to_bytes(rec).cpu().to(at::kDouble) - d.source.narrow(0, i, 1).to(at::kDouble)).abs().mean().item<double>() / 255;
    }
    cycle /= static_cast<double>(d.source.size(0));
    ImageSet fake_set{normalize_bytes(at::cat(fakes)), std::string("translated ") + d.name};
    ImageSet real_set{normalize_bytes(d.target.cpu()), std::string("real target images of ") + d.name};
    Extracted judged = judge.extract(fake_set, ProgressMode::Off);
    const double share = (judged.probs.argmax(1) == d.target_label).to(at::kDouble).mean().item<double>();
    Extracted real_f = features.extract(real_set, ProgressMode::Off);
    Extracted fake_f = &features == &judge ? judged : features.extract(fake_set, ProgressMode::Off);
    EvalOptions m;
    m.metrics = {"kid"};
    // FID needs more images than feature dimensions (a full-rank covariance); KID does not.
    const int64_t images = std::min(real_f.features.size(0), fake_f.features.size(0)), dims = real_f.features.size(1);
    if (images > dims) m.metrics.push_back("fid");
    MetricResults r = compute_metrics(real_f, fake_f, m);
    const std::string n = d.name;
    ev.metrics.emplace_back(n + "_target_share", share);
    double kid = NAN;
    for (const auto& [k, v] : r) {
      if (k == "kid_mean") kid = v;
      if (k == "kid_mean" || k == "kid_std" || k == "fid") ev.metrics.emplace_back(n + "_" + (k == "kid_mean" ? "kid" : k), v);
    }
    ev.metrics.emplace_back(d.cycle, cycle);
    kids += kid;
    char buf[160];
    std::snprintf(buf, sizeof buf, "  %s: in target %.1f%%  KID %.4g  cycle L1 %.4f", d.name, 100 * share, kid, cycle);
    ev.summary += buf;
    if (images <= dims) {
      const std::string note = "no FID: it needs more than " + std::to_string(dims) + " images, the features' size; " +
                               std::to_string(images) + " here";
      ev.summary += "  (" + note + ")";
      ev.notes.push_back(std::string(d.name) + ": " + note);
    }
  }
  ev.kid = kids / 2;
  ev.metrics.emplace_back("kid", ev.kid);
  return ev;
}

}  // namespace forgery
