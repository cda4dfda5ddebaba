// End to end: the gan-mnist preset on small generated MNIST-format data.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <nlohmann/json.hpp>

#include "forgery/core/background.h"
#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/core/precision.h"
#include "forgery/core/stop.h"
#include "forgery/eval/classifier.h"
#include "forgery/io/image.h"
#include "forgery/io/plot.h"
#include "forgery/io/torch_file.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/fused_adam.h"
#include "forgery/train/trainer.h"
#include "forgery/train/options.h"
#include "forgery/io/state_dict.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::TempDir;

class Train : public ::testing::Test {
 protected:
  void SetUp() override {
    configure_threads(2);  // as a run does (MKL builds: a thread count that holds)
    clear_stop_request();
    test::write_fake_mnist(tmp_ / "data", n_images_, 20);
  }
  void TearDown() override { clear_stop_request(); }
  // gan-mnist as the seed has it, but on `n_images_` generated images.
  Config config(int64_t epochs, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data_dir=" + (tmp_ / "data").string(), "epochs=" + std::to_string(epochs),
                                     "progress=off", "threads=2", "device=cpu"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return build_config("gan-mnist", sets);
  }
  fs::path run(const std::string& name, const Config& c) {
    fs::path dir = tmp_ / name;
    prepare_output_dir(dir, false);
    Trainer t(c, dir);
    t.start_new();
    EXPECT_EQ(t.train(), 0);
    return dir;
  }
  // Continues the run in `dir` from its last checkpoint up to `epochs`.
  static void resume(const fs::path& dir, int64_t epochs, int64_t expect_done) {
    Checkpoint ck = Checkpoint::read(Checkpoint::locate(dir));
    Trainer t(ck.config({{"epochs", std::to_string(epochs)}}), dir);
    t.restore(ck);
    EXPECT_EQ(t.epochs_done(), expect_done);
    EXPECT_EQ(t.train(), 0);
  }
  // 300 test images (FID needs more than the 128 features) and a classifier trained on them.
  fs::path data_with_classifier() {
    test::write_fake_mnist(tmp_ / "data", n_images_, 300);
    ClassifierTraining o;
    o.epochs = 1;
    o.progress = ProgressMode::Off;
    return train_mnist_classifier(tmp_ / "data", tmp_ / "cls.pt", o).file;
  }
  static NamedTensors weights(const fs::path& run, const std::string& net) {
    return load_state_dict(run / "weights" / (net + ".pt"));
  }
  static void expect_same(const NamedTensors& a, const NamedTensors& b, bool same = true) {
    ASSERT_EQ(a.size(), b.size());
    bool all = true;
    for (size_t i = 0; i < a.size(); ++i) all = all && a[i].first == b[i].first && torch::equal(a[i].second, b[i].second);
    EXPECT_EQ(all, same);
  }
  TempDir tmp_;
  int64_t n_images_ = 600;  // two batches of 512 per epoch, the second partial (88)
};

TEST_F(Train, WritesEveryArtifactOfARun) {
  fs::path dir = run("run", config(2));
  // config.toml reruns the same configuration
  Config back = build_config((dir / "config.toml").string(), {});
  EXPECT_EQ(back.to_toml(), config(2).to_toml());
  // metrics: one row per epoch with every field
  std::ifstream jl(dir / "metrics.jsonl");
  std::string line;
  int rows = 0;
  while (std::getline(jl, line)) {
    auto j = nlohmann::json::parse(line);
    ++rows;
    EXPECT_EQ(j["epoch"].get<int>(), rows);
    EXPECT_EQ(j["step"].get<int>(), 2 * rows);  // 600 images, batch 512, last batch kept
    for (const char* k : {"loss_g", "loss_d", "d_real", "d_fake", "seconds", "images_per_sec"}) {
      ASSERT_TRUE(j.contains(k)) << k;
      EXPECT_TRUE(std::isfinite(j[k].get<double>())) << k;
    }
    EXPECT_GT(j["loss_d"].get<double>(), 0);
    EXPECT_GT(j["d_real"].get<double>(), 0);
    EXPECT_LT(j["d_real"].get<double>(), 1);
  }
  EXPECT_EQ(rows, 2);
  std::string csv = read_file(dir / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "epoch,step,loss_g,loss_d,d_real,d_fake,seconds,images_per_sec");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  // grids: 64 images, 8 per row, 2-pixel padding: 8 * 30 + 2 = 242 square, grey
  for (const char* f : {"samples/epoch_0001.png", "samples/epoch_0002.png"}) {
    Image g = read_png(dir / f);
    EXPECT_EQ(g.width, 242) << f;
    EXPECT_EQ(g.height, 242) << f;
    EXPECT_EQ(g.channels, 1) << f;
    // the padding is black and the images are not: tanh output was mapped to [0, 1]
    EXPECT_EQ(g.pixels[0], 0);
    double mean = 0;
    for (int y = 2; y < 30; ++y)
      for (int x = 2; x < 30; ++x) mean += g.pixels[y * 242 + x];
    EXPECT_GT(mean / 784, 20.0) << "image looks clipped to black";
  }
  for (int i = 0; i < 10; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "samples/final_%02d.png", i);
    Image im = read_png(dir / name);
    EXPECT_EQ(im.width, 28);
    EXPECT_EQ(im.height, 28);
  }
  EXPECT_FALSE(fs::exists(dir / "samples/final_10.png"));
  if (plot_supported()) {
    Image plot = read_png(dir / "losses.png");
    EXPECT_EQ(plot.width, 800);
    EXPECT_NE(read_file(dir / "losses.svg").find("<svg"), std::string::npos);
  }
  if (gif_supported()) {
    GifInfo gif = read_gif_info(dir / "progress.gif");
    EXPECT_EQ(gif.frames, 2);
    EXPECT_EQ(gif.width, 242);
    EXPECT_TRUE(gif.loops);
  }
  Checkpoint ck = Checkpoint::read(dir / "checkpoints" / "last.pt");
  EXPECT_EQ(ck.get_int("epoch"), 2);
  EXPECT_EQ(ck.get_int("batch_in_epoch"), 0);
  auto g = weights(dir, "generator");
  std::vector<std::string> names;
  for (auto& [n, t] : g) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"main.0.weight", "main.0.bias", "main.2.weight", "main.2.bias",
                                             "main.4.weight", "main.4.bias", "main.6.weight", "main.6.bias"}));
  EXPECT_EQ(g[0].second.sizes(), (std::vector<int64_t>{256, 128}));
  auto d = weights(dir, "discriminator");
  EXPECT_EQ(d[0].first, "main.0.weight");
  EXPECT_EQ(d[0].second.sizes(), (std::vector<int64_t>{1024, 784}));
  EXPECT_EQ(d.back().first, "main.9.bias");
  // no temporary files left behind
  for (auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
}

// Autocast keeps bf16 copies of the weights it casts; an optimiser step must not train on a
// stale copy.
TEST(Precision, TheCastCacheIsClearedAfterAWeightChange) {
  torch::nn::Linear lin(4, 3);
  at::Tensor x = at::ones({2, 4});
  at::Tensor before, stale, fresh;
  {
    AutocastScope autocast(c10::Device(c10::kCPU), Precision::Bf16);
    before = lin->forward(x);
    EXPECT_EQ(before.scalar_type(), at::kBFloat16);  // the product ran in bf16
    {
      torch::NoGradGuard no_grad;
      lin->weight.add_(1.0);
    }
    stale = lin->forward(x);
    AutocastScope::clear_cast_cache();
    fresh = lin->forward(x);
  }
  EXPECT_TRUE(torch::allclose(fresh.to(at::kFloat), lin->forward(x), 1e-2, 1e-2));
  EXPECT_FALSE(torch::allclose(fresh.to(at::kFloat), before.to(at::kFloat), 1e-2, 1e-2));
  // Outside the scope: fp32 again.
  EXPECT_EQ(lin->forward(x).scalar_type(), at::kFloat);
  // (LibTorch 1.13 caches casts on CUDA only, so `stale` is fresh here; 2.x caches on CPU too.)
  (void)stale;
  EXPECT_THROW(parse_precision("fp16"), UsageError);
}

// The multi-tensor Adam (used on GPUs) is LibTorch's Adam, step for step.
TEST(Adam, TheMultiTensorFormIsLibTorchsAdam) {
  torch::manual_seed(3);
  std::vector<at::Tensor> a, b;
  for (auto shape : {std::vector<int64_t>{7, 5}, {5}, {3, 2, 4}}) {
    a.push_back(torch::randn(shape).requires_grad_());
    b.push_back(a.back().detach().clone().requires_grad_());
  }
  auto opts = torch::optim::AdamOptions(2e-3).betas({0.5, 0.999});
  torch::optim::Adam reference(a, opts), multi(b, opts);
  for (int step = 0; step < 4; ++step) {
    for (size_t i = 0; i < a.size(); ++i) {
      // The second parameter skips step 2: its own step count (and bias correction) lags.
      if (i == 1 && step == 2) {
        a[i].mutable_grad().reset();
        b[i].mutable_grad().reset();
        continue;
      }
      at::Tensor g = torch::randn(a[i].sizes());
      a[i].mutable_grad() = g.clone();
      b[i].mutable_grad() = g.clone();
    }
    reference.step();
    adam_step_multi_tensor(multi);
  }
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-6, 1e-7)) << i << ": " << (a[i] - b[i]).abs().max().item<double>();
}

TEST_F(Train, Bf16TrainsCloseToFp32KeepsFp32WeightsAndResumesExactly) {
  fs::path fp32 = run("fp32", config(1, {"dropout=0"}));
  fs::path bf16 = run("bf16", config(1, {"dropout=0", "precision=bf16"}));
  // Two steps: bf16 products (8-bit mantissa) move the losses by well under 1%.
  MetricsLog a(fp32), b(bf16);
  a.load();
  b.load();
  for (const char* k : {"loss_g", "loss_d"}) {
    EXPECT_NEAR(a.column(k)[0], b.column(k)[0], 0.01 * std::abs(a.column(k)[0])) << k;
    EXPECT_NE(a.column(k)[0], b.column(k)[0]) << k << ": bf16 changed nothing";
  }
  for (const auto& [name, t] : weights(bf16, "generator")) EXPECT_EQ(t.scalar_type(), at::kFloat) << name;
  // Deterministic: a stopped and resumed bf16 run ends where an uninterrupted one does.
  fs::path straight = run("straight", config(3, {"precision=bf16"}));
  fs::path split = run("split", config(1, {"precision=bf16"}));
  resume(split, 3, 1);
  expect_same(weights(straight, "generator"), weights(split, "generator"));
  expect_same(weights(straight, "discriminator"), weights(split, "discriminator"));
}

// What the tool adds to a LibTorch error it did not anticipate: an explanation for CUDA's
// device-side assert (the GPU suite's CudaRun.ADivergedRunStopsAndSaysSo meets a real one).
TEST(Errors, ACudaDeviceSideAssertIsExplainedOtherMessagesPassUnchanged) {
  EXPECT_EQ(explain_library_error("shape '[3, -1]' is invalid"), "shape '[3, -1]' is invalid");
  const std::string raw = "CUDA error: device-side assert triggered\nCUDA kernel errors might be asynchronously reported";
  const std::string told = explain_library_error(raw);
  EXPECT_EQ(told.rfind(raw, 0), 0u) << told;
  EXPECT_NE(told.find("a check inside a CUDA kernel failed"), std::string::npos) << told;
  EXPECT_NE(told.find("loss = \"bce\""), std::string::npos) << told;
  EXPECT_NE(told.find("last checkpoint is its last good state"), std::string::npos) << told;
}

TEST(Threads, AnMklBlasKeepsTheThreadCountItIsGiven) {
  // Intel's conditions for MKL results that repeat run to run: a fixed thread count, and MKL's
  // dynamic adjustment of it off (PyTorch's wheels do their CPU matrix products in MKL).
  if (std::getenv("MKL_DYNAMIC")) GTEST_SKIP() << "MKL_DYNAMIC is set by the user, and wins";
  configure_threads(2);
  const std::string blas = blas_description();
  if (blas.rfind("OpenBLAS", 0) == 0) GTEST_SKIP() << "the BLAS is " << blas << ": no dynamic thread counts";
  if (blas.rfind("MKL", 0) != 0) GTEST_SKIP() << "the BLAS keeps its symbols to itself: " << blas;
  EXPECT_EQ(blas, "MKL (dynamic threads off)");
}

TEST_F(Train, SameSeedSameRunOtherSeedOtherRun) {
  fs::path a = run("a", config(1)), b = run("b", config(1)), c = run("c", config(1, {"seed=1"}));
  expect_same(weights(a, "generator"), weights(b, "generator"));
  expect_same(weights(a, "discriminator"), weights(b, "discriminator"));
  MetricsLog ma(a), mb(b);
  ma.load();
  mb.load();
  EXPECT_EQ(ma.column("loss_g"), mb.column("loss_g"));
  EXPECT_EQ(ma.column("loss_d"), mb.column("loss_d"));
  expect_same(weights(a, "generator"), weights(c, "generator"), false);
}

// g_noise = "reuse" (the DCGAN tutorial's step; the step itself is golden-tested in
// test_models.cpp) reaches the step from a config: another run than the default's, repeatable.
TEST_F(Train, GNoiseReuseTrainsTheTutorialsStep) {
  fs::path fresh = run("fresh", config(1)), reuse = run("reuse", config(1, {"g_noise=reuse"}));
  fs::path again = run("again", config(1, {"g_noise=reuse"}));
  expect_same(weights(reuse, "generator"), weights(again, "generator"));
  expect_same(weights(reuse, "generator"), weights(fresh, "generator"), false);
  const std::string msg = test::error_message([&] { config(1, {"g_noise=old"}); });
  EXPECT_NE(msg.find("option g_noise 'old': expected fresh"), std::string::npos) << msg;
}

// With k D steps a batch, the logged loss_d is the sum of the k steps' losses, as the chapter
// logs it; D's mean outputs stay per step. Weights held still (rates of 1e-30, no dropout):
// every D step's loss is then about the same, so k = 2 logs about twice k = 1's.
TEST_F(Train, WithKDiscriminatorStepsLossDSumsThemAsTheChapterDoes) {
  const std::vector<std::string> still = {"lr_g=1e-30", "lr_d=1e-30", "dropout=0"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), still.begin(), still.end());
    return extra;
  };
  fs::path one = run("k1", config(1, with({"k=1"}))), two = run("k2", config(1, with({"k=2"})));
  MetricsLog m1(one), m2(two);
  m1.load();
  m2.load();
  EXPECT_NEAR(m2.column("loss_d")[0] / m1.column("loss_d")[0], 2.0, 0.02);
  EXPECT_NEAR(m2.column("d_real")[0], m1.column("d_real")[0], 0.01);
}

TEST_F(Train, DropLastDropsThePartialBatch) {
  fs::path dir = run("run", config(1, {"drop_last=true"}));
  Checkpoint ck = Checkpoint::read(dir / "checkpoints" / "last.pt");
  EXPECT_EQ(ck.get_int("global_step"), 1);
}

TEST_F(Train, ResumeAtAnEpochBoundaryIsExact) {
  fs::path straight = run("straight", config(2));
  fs::path split = run("split", config(1));
  resume(split, 2, 1);
  expect_same(weights(straight, "generator"), weights(split, "generator"));
  expect_same(weights(straight, "discriminator"), weights(split, "discriminator"));
  auto a = Checkpoint::read(straight / "checkpoints/last.pt"), b = Checkpoint::read(split / "checkpoints/last.pt");
  expect_same(a.get_tensors("optimizers", "G"), b.get_tensors("optimizers", "G"));
  expect_same(a.get_tensors("optimizers", "D"), b.get_tensors("optimizers", "D"));
  MetricsLog ma(straight), mb(split);
  ma.load();
  mb.load();
  EXPECT_EQ(ma.column("loss_g"), mb.column("loss_g"));
  EXPECT_EQ(mb.rows().size(), 2u);
}

TEST(BackgroundWriter, RunsJobsInOrderOneAtATimeAndReportsAFailureOnce) {
  std::vector<int> done;
  std::atomic<bool> release{false};
  {
    BackgroundWriter w;
    w.post([&] {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      done.push_back(1);
    });
    // post() waits for the job in progress: the second job is taken only after the first ended.
    std::thread releaser([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      release = true;
    });
    w.post([&] { done.push_back(2); });
    releaser.join();
    w.wait();
    EXPECT_EQ(done, (std::vector<int>{1, 2}));
    w.post([] { throw Error("cannot write last.pt: File too large"); });
    std::string msg = test::error_message([&] { w.wait(); });
    EXPECT_NE(msg.find("last.pt: File too large"), std::string::npos) << msg;
    // No job runs after a failed one; every later call reports the failure.
    msg = test::error_message([&] { w.post([&] { done.push_back(3); }); });
    EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
    EXPECT_EQ(done.size(), 2u);
  }
  // The destructor waits for the job in progress.
  std::atomic<int> finished{0};
  {
    BackgroundWriter w;
    w.post([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      finished = 1;
    });
  }
  EXPECT_EQ(finished, 1);
}

TEST(OwnedCopy, CopiesWhatOthersShareAndKeepsWhatOnlyTheValueHolds) {
  at::Tensor live = at::ones({3});
  c10::impl::GenericDict inner(c10::StringType::get(), c10::AnyType::get());
  inner.insert("live", live);
  inner.insert("view", live.narrow(0, 1, 2));
  inner.insert("fresh", at::zeros({2}));  // held by the dict alone, as a GPU tensor brought to the host
  c10::impl::GenericDict outer(c10::StringType::get(), c10::AnyType::get());
  outer.insert("inner", inner);
  outer.insert("n", int64_t{7});
  const void* fresh = inner.at("fresh").toTensor().data_ptr();
  auto copy = owned_copy(outer).toGenericDict();
  auto c = copy.at("inner").toGenericDict();
  live.add_(1);
  EXPECT_TRUE(at::equal(c.at("live").toTensor(), at::ones({3})));
  EXPECT_TRUE(at::equal(c.at("view").toTensor(), at::ones({2})));
  EXPECT_EQ(c.at("view").toTensor().storage_offset(), 0);
  EXPECT_EQ(c.at("fresh").toTensor().data_ptr(), fresh);
  EXPECT_EQ(copy.at("n").toInt(), 7);
}

TEST_F(Train, BackgroundWritesHoldTheEpochsStateWhileTheNextEpochTrains) {
  // The writer of epoch 1's files is held until epoch 2 has made two steps (the weights and
  // Adam's moments have moved): what it writes must still be the end of epoch 1, as the
  // synchronous writes have it, and the run's files must be the same.
  auto sets = [](bool async) {
    return std::vector<std::string>{"checkpoint_every=1", std::string("async_writes=") + (async ? "true" : "false")};
  };
  fs::path sync = run("sync", config(2, sets(false)));
  fs::path dir = tmp_ / "async";
  prepare_output_dir(dir, false);
  std::atomic<int64_t> step{0};
  std::atomic<bool> held{false};
  {
    Trainer t(config(2, sets(true)), dir);
    t.start_new();
    t.after_step = [&](int64_t s) { step = s; };
    t.before_background_write = [&](int64_t epoch) {
      if (epoch != 1) return;
      while (step < 4) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      held = true;
    };
    EXPECT_EQ(t.train(), 0);
  }
  EXPECT_TRUE(held);
  for (int e = 1; e <= 2; ++e) {
    const std::string name = e == 1 ? "checkpoints/epoch_0001.pt" : "checkpoints/epoch_0002.pt";
    auto a = Checkpoint::read(sync / name), b = Checkpoint::read(dir / name);
    EXPECT_EQ(b.get_int("epoch"), e);
    for (const char* net : {"G", "D"}) {
      SCOPED_TRACE(name + " " + net);
      expect_same(a.get_tensors("optimizers", net), b.get_tensors("optimizers", net));
    }
    expect_same(a.get_tensors("networks", "generator"), b.get_tensors("networks", "generator"));
    expect_same(a.get_tensors("networks", "discriminator"), b.get_tensors("networks", "discriminator"));
    expect_same(a.get_tensors("rng"), b.get_tensors("rng"));
  }
  for (const char* f : {"weights/generator.pt", "weights/discriminator.pt", "samples/epoch_0001.png",
                        "samples/epoch_0002.png", "progress.gif"})
    EXPECT_EQ(test::read_bytes(sync / f), test::read_bytes(dir / f)) << f;
  MetricsLog ma(sync), mb(dir);
  ma.load();
  mb.load();
  EXPECT_EQ(ma.column("loss_g"), mb.column("loss_g"));
  EXPECT_TRUE(fs::exists(dir / "report.html"));
  EXPECT_TRUE(fs::exists(dir / "losses.png") || !plot_supported());
}

// Files that take longer to write than an epoch to train (a small model on a GPU): the writer
// of epoch 1 is held into epoch 4, so epochs 2 and 3 end while it is busy and leave their
// checkpoint, weights, plot and report to a later epoch instead of waiting. Every epoch's
// picture and metrics row are still written, the run's files are the synchronous run's, and a
// stop in epoch 4 writes what epochs 2 and 3 held back and resumes exactly.
TEST_F(Train, WritesSlowerThanEpochsAreLeftToALaterEpoch) {
  fs::path sync = run("sync", config(5, {"async_writes=false"}));
  for (const bool stop : {false, true}) {
    SCOPED_TRACE(stop ? "stopped in epoch 4" : "straight");
    fs::path dir = tmp_ / (stop ? "stopped" : "folded");
    prepare_output_dir(dir, false);
    std::atomic<int64_t> step{0};
    {
      Trainer t(config(5), dir);
      t.start_new();
      t.after_step = [&](int64_t s) {
        step = s;
        if (stop && s == 7) request_stop(SIGINT);  // epoch 4's first step
      };
      t.before_background_write = [&](int64_t epoch) {
        if (epoch != 1) return;
        while (step < 7) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      };
      EXPECT_EQ(t.train(), stop ? 128 + SIGINT : 0);
      EXPECT_GE(t.folded_epochs(), 2);
    }
    clear_stop_request();
    if (stop) {
      Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
      EXPECT_EQ(ck.get_int("epoch"), 3);
      EXPECT_EQ(ck.get_int("global_step"), 7);
      for (const char* f : {"samples/epoch_0001.png", "samples/epoch_0002.png", "samples/epoch_0003.png"})
        EXPECT_TRUE(fs::exists(dir / f)) << f;
      MetricsLog m(dir);
      m.load();
      EXPECT_EQ(m.rows().size(), 3u);
      Trainer t(ck.config(), dir);
      t.restore(ck);
      EXPECT_EQ(t.train(), 0);
    }
    EXPECT_EQ(Checkpoint::read(dir / "checkpoints/last.pt").get_int("epoch"), 5);
    for (const char* f : {"weights/generator.pt", "weights/discriminator.pt", "samples/epoch_0001.png",
                          "samples/epoch_0002.png", "samples/epoch_0003.png", "samples/epoch_0005.png", "progress.gif"})
      EXPECT_EQ(test::read_bytes(sync / f), test::read_bytes(dir / f)) << f;
    MetricsLog ma(sync), mb(dir);
    ma.load();
    mb.load();
    EXPECT_EQ(ma.column("loss_g"), mb.column("loss_g"));
    EXPECT_EQ(ma.column("d_real"), mb.column("d_real"));
  }
}

TEST_F(Train, StopMidEpochSavesAndResumesExactly) {
  n_images_ = 1100;  // 3 batches per epoch
  test::write_fake_mnist(tmp_ / "data", n_images_, 20);
  fs::path straight = run("straight", config(2));
  fs::path dir = tmp_ / "stopped";
  prepare_output_dir(dir, false);
  {
    Trainer t(config(2), dir);
    t.start_new();
    t.after_step = [](int64_t step) {
      if (step == 4) request_stop(SIGINT);  // during epoch 2, after its first batch
    };
    EXPECT_EQ(t.train(), 128 + SIGINT);
  }
  clear_stop_request();
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("epoch"), 1);
  EXPECT_EQ(ck.get_int("batch_in_epoch"), 1);
  EXPECT_EQ(ck.get_int("global_step"), 4);
  // The stopped run's animation holds the epochs done so far; the resumed run's all of them.
  if (gif_supported()) EXPECT_EQ(read_gif_info(dir / "progress.gif").frames, 1);
  {
    Trainer t(ck.config(), dir);
    t.restore(ck);
    EXPECT_EQ(t.train(), 0);
  }
  if (gif_supported()) EXPECT_EQ(read_gif_info(dir / "progress.gif").frames, 2);
  expect_same(weights(straight, "generator"), weights(dir, "generator"));
  expect_same(weights(straight, "discriminator"), weights(dir, "discriminator"));
  MetricsLog ma(straight), mb(dir);
  ma.load();
  mb.load();
  EXPECT_EQ(ma.column("loss_g"), mb.column("loss_g"));
  EXPECT_EQ(ma.column("d_fake"), mb.column("d_fake"));
}

TEST_F(Train, TheGeneratorsAverageFollowsItsHalfLifeAndChangesNoTraining) {
  // lr_g 0.002: steps large enough that a wrong schedule shows beyond the tolerance below.
  const std::vector<std::string> common = {"lr_g=0.002", "dropout=0"};
  fs::path plain = run("plain", config(2, common));
  auto with = common;
  with.insert(with.end(), {"ema_kimg=0.5", "ema_rampup=0.5"});
  fs::path dir = tmp_ / "ema";
  prepare_output_dir(dir, false);
  std::vector<std::vector<at::Tensor>> after;  // the generator's parameters: at the start, after each step
  {
    Trainer t(config(2, with), dir);
    t.start_new();
    auto snapshot = [&t] {
      std::vector<at::Tensor> v;
      for (const auto& p : t.network("generator").parameters()) v.push_back(p.detach().to(at::kDouble));
      return v;
    };
    after.push_back(snapshot());
    t.after_step = [&](int64_t) { after.push_back(snapshot()); };
    EXPECT_EQ(t.train(), 0);
  }
  ASSERT_EQ(after.size(), 5u);  // 600 images: batches of 512 and 88, two epochs
  // StyleGAN2-ADA's rule: half-life min(500 images, 0.5 x the images seen before the batch).
  const double seen[4] = {0, 512, 600, 1112}, batch[4] = {512, 88, 512, 88};
  std::vector<at::Tensor> mean = after[0];
  for (int s = 0; s < 4; ++s) {
    const double half_life = std::min(500.0, 0.5 * seen[s]);
    const double beta = half_life > 0 ? std::pow(0.5, batch[s] / half_life) : 0.0;
    for (size_t i = 0; i < mean.size(); ++i) mean[i] = beta * mean[i] + (1 - beta) * after[s + 1][i];
  }
  NamedTensors ema = weights(dir, "generator_ema"), trained = weights(dir, "generator");
  ASSERT_EQ(ema.size(), mean.size());
  for (size_t i = 0; i < mean.size(); ++i) {
    EXPECT_EQ(ema[i].first, trained[i].first);
    EXPECT_TRUE(torch::allclose(ema[i].second.to(at::kDouble), mean[i], 1e-5, 1e-7)) << ema[i].first;
    EXPECT_FALSE(torch::equal(ema[i].second, trained[i].second)) << ema[i].first << ": the average is the weights";
  }
  // The checkpoint holds the same average, of the generator only.
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  expect_same(ck.get_tensors("ema", "generator"), ema);
  EXPECT_FALSE(ck.has("ema", "discriminator"));
  EXPECT_FALSE(fs::exists(dir / "weights/discriminator_ema.pt"));
  EXPECT_FALSE(Checkpoint::read(plain / "checkpoints/last.pt").has("ema"));
  EXPECT_FALSE(fs::exists(plain / "weights/generator_ema.pt"));
  // Training is the run without the average, bit for bit; the pictures show the average.
  expect_same(weights(plain, "generator"), trained);
  expect_same(weights(plain, "discriminator"), weights(dir, "discriminator"));
  MetricsLog a(plain), b(dir);
  a.load();
  b.load();
  EXPECT_EQ(a.column("loss_g"), b.column("loss_g"));
  EXPECT_NE(read_png(plain / "samples/epoch_0002.png").pixels, read_png(dir / "samples/epoch_0002.png").pixels);
}

TEST_F(Train, TheAverageResumesExactlyAfterAStopInsideAnEpoch) {
  n_images_ = 1100;  // 3 batches per epoch
  test::write_fake_mnist(tmp_ / "data", n_images_, 20);
  const std::vector<std::string> ema = {"ema_kimg=1", "ema_rampup=0.2"};
  fs::path straight = run("straight", config(2, ema));
  fs::path dir = tmp_ / "stopped";
  prepare_output_dir(dir, false);
  {
    Trainer t(config(2, ema), dir);
    t.start_new();
    t.after_step = [](int64_t step) {
      if (step == 4) request_stop(SIGINT);
    };
    EXPECT_EQ(t.train(), 128 + SIGINT);
  }
  clear_stop_request();
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("batch_in_epoch"), 1);
  // The stop wrote the average's weights file with the rest.
  expect_same(ck.get_tensors("ema", "generator"), weights(dir, "generator_ema"));
  {
    Trainer t(ck.config(), dir);
    t.restore(ck);
    EXPECT_EQ(t.train(), 0);
  }
  expect_same(weights(straight, "generator_ema"), weights(dir, "generator_ema"));
  expect_same(weights(straight, "generator"), weights(dir, "generator"));
}

// A generator with BatchNorm (the conditional DCGAN): its average gets running statistics of its
// own weights, recomputed from 16 batches of fixed noise; ema_batchnorm=trained keeps the trained
// network's, as before.
TEST_F(Train, TheAverageOfABatchNormGeneratorHasTheStatisticsOfItsOwnWeights) {
  auto cdcgan = [this](int64_t epochs, const std::string& statistics) {
    return build_config("cdcgan-mnist", {"data_dir=" + (tmp_ / "data").string(), "epochs=" + std::to_string(epochs),
                                         "progress=off", "threads=2", "device=cpu", "image_size=16", "nz=8", "ngf=4",
                                         "ndf=4", "ema_kimg=0.3", "ema_batchnorm=" + statistics});
  };
  const Config c = cdcgan(2, "recompute");
  fs::path dir = run("recompute", c), kept = run("trained", cdcgan(2, "trained"));
  // The training and the averaged weights are the same; only the averages' buffers differ.
  expect_same(weights(dir, "generator"), weights(kept, "generator"));
  std::map<std::string, at::Tensor> ema, old, trained;
  for (auto& [k, t] : weights(dir, "generator_ema")) ema[k] = t;
  for (auto& [k, t] : weights(kept, "generator_ema")) old[k] = t;
  for (auto& [k, t] : weights(dir, "generator")) trained[k] = t;
  ASSERT_EQ(ema.size(), trained.size());
  int buffers = 0;
  for (const auto& [k, t] : ema) {
    const bool buffer = k.find("running_") != std::string::npos || k.find("num_batches_tracked") != std::string::npos;
    buffers += buffer;
    if (!buffer) EXPECT_TRUE(torch::equal(t, old.at(k))) << k;
    EXPECT_TRUE(torch::equal(old.at(k), buffer ? trained.at(k) : old.at(k))) << k << ": trained keeps the network's";
    if (k.find("num_batches_tracked") != std::string::npos) EXPECT_EQ(t.item<int64_t>(), 16) << k;
    else if (buffer) EXPECT_FALSE(torch::allclose(t, trained.at(k))) << k << " was not recomputed";
  }
  EXPECT_EQ(buffers, 2 * 3);  // 16x16: G has two BatchNorm layers, three buffers each
  // The first layer's statistics, computed here from the same noise and the averaged weights: the
  // mean over the 16 batches of each batch's mean and unbiased variance.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(c.get_int("seed")) + 4);
  const int64_t batch = c.get_int("batch_size"), nz = 8, classes = 10;
  at::Tensor mean = at::zeros({ema.at("main.1.running_mean").numel()}, at::kDouble), var = mean.clone();
  for (int64_t b = 0; b < 16; ++b) {
    at::Tensor z = at::randn({batch, nz}, gen);
    at::Tensor labels = (at::arange(batch, at::kLong) + b * batch).remainder(classes);
    at::Tensor x = at::cat({z, at::one_hot(labels, classes).to(at::kFloat)}, 1).view({batch, nz + classes, 1, 1});
    at::Tensor y = at::conv_transpose2d(x.to(at::kDouble), ema.at("main.0.weight").to(at::kDouble));
    mean += y.mean({0, 2, 3}) / 16;
    var += y.var({0, 2, 3}, /*unbiased=*/true) / 16;
  }
  EXPECT_TRUE(torch::allclose(ema.at("main.1.running_mean").to(at::kDouble), mean, 1e-4, 1e-6));
  EXPECT_TRUE(torch::allclose(ema.at("main.1.running_var").to(at::kDouble), var, 1e-4, 1e-6));
  // The checkpoint holds what the weights file holds, and the pictures use the statistics.
  expect_same(Checkpoint::read(dir / "checkpoints/last.pt").get_tensors("ema", "generator"),
              weights(dir, "generator_ema"));
  EXPECT_NE(read_png(dir / "samples/epoch_0002.png").pixels, read_png(kept / "samples/epoch_0002.png").pixels);
  // A stop inside an epoch and resume: the same average, statistics included.
  fs::path stopped = tmp_ / "stopped";
  prepare_output_dir(stopped, false);
  {
    Trainer t(c, stopped);
    t.start_new();
    t.after_step = [](int64_t step) {
      if (step == 6) request_stop(SIGINT);
    };
    EXPECT_EQ(t.train(), 128 + SIGINT);
  }
  clear_stop_request();
  resume(stopped, 2, 1);
  expect_same(weights(dir, "generator_ema"), weights(stopped, "generator_ema"));
}

TEST_F(Train, BadCheckpointsAreRefusedWithReasons) {
  fs::path dir = run("run", config(1));
  auto message = [](auto&& f) { return test::error_message(f); };
  // truncated
  auto bytes = test::read_bytes(dir / "checkpoints/last.pt");
  bytes.resize(bytes.size() / 3);
  test::write_bytes(tmp_ / "cut.pt", bytes);
  std::string msg = message([&] { Checkpoint::read(tmp_ / "cut.pt"); });
  EXPECT_NE(msg.find("cut.pt"), std::string::npos) << msg;
  // a plain state_dict is not a checkpoint
  msg = message([&] { Checkpoint::read(dir / "weights/generator.pt"); });
  EXPECT_NE(msg.find("not a Forgery checkpoint"), std::string::npos) << msg;
  // a checkpoint of another network shape
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  msg = message([&] {
    Trainer t(config(2, {"width=64"}), tmp_ / "other");
    t.restore(ck);
  });
  EXPECT_NE(msg.find("does not fit this model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("main.0.weight"), std::string::npos) << msg;
  // a checkpoint that names another model or recipe
  auto edited = [&](const std::string& key, const std::string& value, const std::string& name) {
    auto d = load_torch_file(dir / "checkpoints/last.pt").toGenericDict();
    d.insert_or_assign(key, value);
    save_torch_file(tmp_ / name, d);
    return Checkpoint::read(tmp_ / name);
  };
  msg = message([&] {
    Trainer t(config(2), tmp_ / "other");
    t.restore(edited("model", "dcgan", "other_model.pt"));
  });
  EXPECT_NE(msg.find("holds model 'dcgan'"), std::string::npos) << msg;
  msg = message([&] {
    Trainer t(config(2), tmp_ / "other");
    t.restore(edited("recipe", "cyclegan", "other_recipe.pt"));
  });
  EXPECT_NE(msg.find("'cyclegan' run"), std::string::npos) << msg;
  msg = message([&] { edited("format", "something-else", "other_format.pt"); });
  EXPECT_NE(msg.find("not a Forgery checkpoint"), std::string::npos) << msg;
  // a run folder without a checkpoint
  fs::create_directories(tmp_ / "empty");
  msg = message([&] { Checkpoint::locate(tmp_ / "empty"); });
  EXPECT_NE(msg.find("checkpoints/last.pt"), std::string::npos) << msg;
}

// A checkpoint written by the release before the recipe trainer (format 1, stopped in the middle
// of epoch 2 by tests/fixtures/checkpoint_v1_midepoch.pt's maker) is read, upgraded and resumed;
// resuming it gives the same run as resuming the format-2 checkpoint of the same state.
TEST_F(Train, ACheckpointOfTheFormerFormatStillResumes) {
  Checkpoint v1 = Checkpoint::read(test::fixture("checkpoint_v1_midepoch.pt"));
  EXPECT_EQ(v1.file_version(), 1);
  auto raw = load_torch_file(test::fixture("checkpoint_v1_midepoch.pt")).toGenericDict();
  expect_same(v1.network("generator"), tensors_of(raw.at("generator"), "v1"));
  EXPECT_EQ(v1.get_tensors("optimizers", "D").size(), tensors_of(raw.at("optimizer_d"), "v1").size());
  EXPECT_EQ(v1.get_tensors("optimizers", "D")[0].first, "discriminator." + tensors_of(raw.at("optimizer_d"), "v1")[0].first);
  EXPECT_EQ(v1.get_int("batch_in_epoch"), 1);
  fs::path a = tmp_ / "from_v1", b = tmp_ / "from_v2";
  for (const auto& d : {a, b}) fs::create_directories(d / "checkpoints");
  {
    Trainer t(v1.config({{"data_dir", (tmp_ / "data").string()}}), b);
    t.restore(v1);
    t.save_checkpoint(b / "checkpoints/last.pt");  // the same state in format 2
  }
  Checkpoint v2 = Checkpoint::read(b / "checkpoints/last.pt");
  EXPECT_EQ(v2.file_version(), kCheckpointVersion);
  for (const auto& [dir, ck] : {std::pair<fs::path, const Checkpoint*>{a, &v1}, {b, &v2}}) {
    Trainer t(ck->config({{"data_dir", (tmp_ / "data").string()}}), dir);
    t.restore(*ck);
    EXPECT_EQ(t.epochs_done(), 1);
    EXPECT_EQ(t.global_step(), 4);
    EXPECT_EQ(t.train(), 0);
    EXPECT_EQ(t.global_step(), 9);  // 600 images in batches of 256: 3 steps an epoch, 3 epochs
  }
  expect_same(weights(a, "generator"), weights(b, "generator"));
  expect_same(weights(a, "discriminator"), weights(b, "discriminator"));
  MetricsLog ma(a), mb(b);
  ma.load();
  mb.load();
  EXPECT_EQ(ma.column("loss_d"), mb.column("loss_d"));
  EXPECT_EQ(ma.column("epoch"), (std::vector<double>{2, 3}));
}

TEST_F(Train, InitFromPythonStateDicts) {
  Config c = config(1, {"nz=16", "image_size=7", "width=8"});
  prepare_output_dir(tmp_ / "init", false);
  prepare_output_dir(tmp_ / "full", false);
  Trainer t(c, tmp_ / "init");
  t.start_new();
  t.init_from({test::fixture("py_generator_state_dict.pt"), test::fixture("py_discriminator_state_dict.pt")});
  auto g = load_state_dict(test::fixture("py_generator_state_dict.pt"));
  expect_same(module_state(t.network("generator")), g);
  auto d = load_state_dict(test::fixture("py_discriminator_state_dict.pt"));
  expect_same(module_state(t.network("discriminator")), d);
  // a file that fits neither network
  Trainer full(config(1), tmp_ / "full");
  full.start_new();
  EXPECT_THROW(full.init_from({test::fixture("py_generator_state_dict.pt")}), Error);
  // A Forgery checkpoint gives each network its trained weights (not the average).
  fs::path src = run("src", config(1, {"ema_kimg=0.1"}));
  prepare_output_dir(tmp_ / "from_checkpoint", false);
  Trainer again(config(1, {"seed=3"}), tmp_ / "from_checkpoint");
  again.start_new();
  again.init_from({src / "checkpoints/last.pt"});
  expect_same(module_state(again.network("generator")), weights(src, "generator"));
  expect_same(module_state(again.network("discriminator")), weights(src, "discriminator"));
}

TEST_F(Train, EvalEveryLogsMetricsKeepsBestAndLeavesTrainingUntouched) {
  fs::path cls = data_with_classifier();
  fs::path plain = run("plain", config(2));
  fs::path evald = run("evald", config(2, {"eval_every=1", "eval_n=300", "eval_metrics=fid,pr,classes",
                                           "eval_classifier=" + cls.string()}));
  // evaluation draws from its own generator: the training is bit for bit the same
  expect_same(weights(plain, "generator"), weights(evald, "generator"));
  expect_same(weights(plain, "discriminator"), weights(evald, "discriminator"));
  MetricsLog log(evald);
  log.load();
  auto fid = log.column("fid");
  ASSERT_EQ(fid.size(), 2u);
  EXPECT_TRUE(std::isfinite(fid[0]) && std::isfinite(fid[1]));
  EXPECT_TRUE(std::isfinite(log.column("precision")[1]));
  EXPECT_TRUE(std::isfinite(log.column("classes_covered")[1]));
  ASSERT_TRUE(fs::exists(evald / "checkpoints/best.pt"));
  Checkpoint best = Checkpoint::read(evald / "checkpoints/best.pt");
  Checkpoint last = Checkpoint::read(evald / "checkpoints/last.pt");
  EXPECT_DOUBLE_EQ(last.get_float("best_value"), std::min(fid[0], fid[1]));
  EXPECT_EQ(last.get_string("best_metric"), "fid");
  EXPECT_EQ(best.get_int("epoch"), last.get_int("best_epoch"));
}

TEST_F(Train, MnistIsResizedToTheModelsSize) {
  Trainer t(config(1, {"image_size=32"}), tmp_ / "x");
  t.load_data();
  fs::path dir = run("resized", config(1, {"image_size=32", "width=8"}));
  EXPECT_EQ(read_png(dir / "samples/final_00.png").width, 32);
}

// A small DCGAN (32x32, 4 features) on the generated MNIST: every artifact, BatchNorm buffers
// in the weights, and exact resume with random flips.
TEST_F(Train, DcganRunsAndResumesExactlyWithFlips) {
  auto dc = [&](int64_t epochs) {
    return build_config("dcgan-mnist", {"data_dir=" + (tmp_ / "data").string(), "epochs=" + std::to_string(epochs),
                                        "progress=off", "threads=2", "device=cpu", "image_size=32", "ngf=4", "ndf=4",
                                        "nz=8", "batch_size=256", "hflip=true", "final_samples=2"});
  };
  fs::path straight = run("straight", dc(2));
  fs::path split = run("split", dc(1));
  resume(split, 2, 1);
  auto g = weights(straight, "generator");
  expect_same(g, weights(split, "generator"));
  expect_same(weights(straight, "discriminator"), weights(split, "discriminator"));
  bool has_running_mean = false;
  for (const auto& [k, t] : g) has_running_mean = has_running_mean || k == "main.1.running_mean";
  EXPECT_TRUE(has_running_mean);
  for (const char* f : {"samples/epoch_0002.png", "samples/final_01.png", "config.toml"})
    EXPECT_TRUE(fs::exists(straight / f)) << f;
  // Where the build has the libraries for them (cairo, giflib).
  EXPECT_EQ(fs::exists(straight / "losses.png"), plot_supported());
  EXPECT_EQ(fs::exists(straight / "progress.gif"), gif_supported());
  EXPECT_EQ(read_png(straight / "samples/epoch_0002.png").width, 8 * 32 + 9 * 2);
  // Without flips the run differs (the flips were really applied).
  fs::path noflip = run("noflip", build_config((straight / "config.toml").string(), {"hflip=false"}));
  expect_same(weights(straight, "generator"), weights(noflip, "generator"), false);
}

// memory_format channels_last (the default on CUDA; asked for here on the CPU): the weights are
// trained in that layout, stored contiguous, and the run resumes exactly (the moments come back
// from the checkpoint contiguous and meet channels-last weights).
TEST_F(Train, ChannelsLastWeightsTrainStoreContiguousAndResumeExactly) {
  auto dc = [&](int64_t epochs, const std::string& format) {
    return build_config("dcgan-mnist", {"data_dir=" + (tmp_ / "data").string(), "epochs=" + std::to_string(epochs),
                                        "progress=off", "threads=2", "device=cpu", "image_size=32", "ngf=4", "ndf=4",
                                        "nz=8", "batch_size=256", "final_samples=0", "memory_format=" + format});
  };
  {
    prepare_output_dir(tmp_ / "layout", false);
    Trainer t(dc(1, "channels_last"), tmp_ / "layout");
    t.start_new();
    // (a weight with one channel is both layouts at once)
    int convs = 0, nhwc_only = 0;
    for (const char* net : {"generator", "discriminator"})
      for (const auto& p : t.network(net).parameters())
        if (p.dim() == 4) {
          ++convs;
          EXPECT_TRUE(p.is_contiguous(at::MemoryFormat::ChannelsLast)) << net;
          nhwc_only += !p.is_contiguous();
        }
    EXPECT_GE(nhwc_only, convs - 2);
    EXPECT_GT(nhwc_only, 4);
  }
  fs::path straight = run("straight", dc(2, "channels_last"));
  fs::path split = run("split", dc(1, "channels_last"));
  resume(split, 2, 1);
  auto g = weights(straight, "generator");
  expect_same(g, weights(split, "generator"));
  expect_same(weights(straight, "discriminator"), weights(split, "discriminator"));
  for (const auto& [k, t] : g) EXPECT_TRUE(t.is_contiguous()) << k;
  // The same run in the contiguous layout: the same training up to the convolutions' summation order.
  fs::path plain = run("plain", dc(2, "contiguous"));
  auto p = weights(plain, "generator");
  ASSERT_EQ(p.size(), g.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(at::allclose(g[i].second, p[i].second, 1e-3, 1e-4)) << g[i].first;
}

TEST_F(Train, ConditionalRunsLogAccuracyAndEvalReportsIt) {
  fs::path cls = data_with_classifier();
  fs::path dir = run("cond", build_config("cgan-mnist", {"data_dir=" + (tmp_ / "data").string(), "epochs=1",
                                                         "progress=off", "width=8", "eval_every=1", "eval_n=300",
                                                         "eval_metrics=fid", "eval_classifier=" + cls.string()}));
  MetricsLog log(dir);
  log.load();
  auto acc = log.column("accuracy");
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_GE(acc[0], 0.0);
  EXPECT_LE(acc[0], 1.0);
  auto r = test::run_forgery("eval '" + dir.string() + "' --n 300 --classifier '" + cls.string() + "' --data '" +
                             (tmp_ / "data").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("accuracy"), std::string::npos) << r.out;
  // Metrics the user chose are kept as chosen.
  r = test::run_forgery("eval '" + dir.string() + "' --n 300 --metrics fid --classifier '" + cls.string() +
                        "' --data '" + (tmp_ / "data").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("accuracy"), std::string::npos) << r.out;
}

TEST_F(Train, ConditionalModelsNeedAsManyClassesAsTheData) {
  auto c = build_config("cgan-mnist", {"data_dir=" + (tmp_ / "data").string(), "epochs=1", "progress=off",
                                       "num_classes=7", "width=8"});
  Trainer t(c, tmp_ / "x");
  std::string msg = test::error_message([&] { t.load_data(); });
  EXPECT_NE(msg.find("has 10 classes (0, 1, 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("set num_classes=10"), std::string::npos) << msg;
}

}  // namespace
}  // namespace forgery
