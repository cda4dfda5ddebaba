// pix2pix end to end on tiny generated pairs: a run folder, exact resume, --init-from,
// translate and data combine, and every bad input the issue lists, through the library and
// through the forgery command.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/stop.h"
#include "forgery/io/image.h"
#include "forgery/io/metrics.h"
#include "forgery/io/safetensors.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/options.h"
#include "forgery/train/trainer.h"
#include "run_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::run_forgery;
using test::same;
using test::TempDir;
using test::weights;
using test::make_pair_halves;
using test::side_by_side;
using test::write_pairs;

class Pix2pixRun : public test::RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    write_pairs(tmp_ / "pairs", 5, 3);
  }
  // The facades preset at 128 with tiny networks (ngf = ndf = 2) on the generated pairs.
  Config config(int64_t epochs, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data_dir=" + (tmp_ / "pairs").string(), "epochs=" + std::to_string(epochs),
                                     "progress=off", "threads=2", "device=cpu", "ngf=2", "ndf=2", "load_size=136",
                                     "n_epochs=1", "n_epochs_decay=2", "eval_every=1", "visual_count=2"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return build_config("pix2pix-facades-128", sets);
  }
  std::string pairs() const { return "--data '" + (tmp_ / "pairs").string() + "'"; }
  std::string tiny() const {
    return "--set ngf=2 --set ndf=2 --set load_size=136 --set progress=off --set visual_count=1 --set eval_every=0";
  }
};

TEST_F(Pix2pixRun, WritesEveryArtifactWithTheReferencesNames) {
  fs::path dir = run("run", config(2));
  EXPECT_EQ(build_config((dir / "config.toml").string(), {}).to_toml(), config(2).to_toml());
  MetricsLog log(dir);
  log.load();
  ASSERT_EQ(log.rows().size(), 2u);
  for (const char* k : {"G_GAN", "G_L1", "D_real", "D_fake", "val_l1", "val_psnr", "val_ssim"})
    for (double v : log.column(k)) EXPECT_TRUE(std::isfinite(v) && v > 0) << k;
  EXPECT_EQ(log.column("step"), (std::vector<double>{5, 10}));
  // The linear schedule (n_epochs 1, n_epochs_decay 2): the rate of each epoch.
  EXPECT_EQ(log.column("lr_G"), (std::vector<double>{0.0002, 0.0002 * (1 - 1.0 / 3)}));
  std::string csv = read_file(dir / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,step,G_GAN,G_L1,D_real,D_fake,lr_G,lr_D,seconds,images_per_sec,val_l1,val_psnr,val_ssim,eval_seconds");
  // Visuals: two val pairs as input | output | target rows of 128x128 images, 2-pixel padding.
  Image grid = read_png(dir / "samples/epoch_0002.png");
  EXPECT_EQ(grid.width, 3 * 128 + 4 * 2);
  EXPECT_EQ(grid.height, 2 * 128 + 3 * 2);
  EXPECT_EQ(grid.channels, 3);
  if (gif_supported()) EXPECT_EQ(read_gif_info(dir / "progress.gif").frames, 2);
  // Weights under the reference's names, strict state_dicts of its UnetGenerator and NLayerDiscriminator.
  auto g = weights(dir, "G"), d = weights(dir, "D");
  EXPECT_EQ(g.front().first, "model.model.0.weight");
  EXPECT_EQ(g.front().second.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  bool has_dropout_block_norm = false;
  for (const auto& [k, t] : g) has_dropout_block_norm |= k == "model.model.1.model.3.model.3.model.3.model.6.running_var";
  EXPECT_TRUE(has_dropout_block_norm);
  EXPECT_EQ(d.front().first, "model.0.weight");
  EXPECT_EQ(d.back().first, "model.11.bias");
  EXPECT_EQ(d.front().second.sizes(), (std::vector<int64_t>{2, 6, 4, 4}));
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_string("recipe"), "pix2pix");
  EXPECT_EQ(ck.get_string("best_metric"), "val_l1");
  EXPECT_TRUE(fs::exists(dir / "checkpoints/best.pt"));
  EXPECT_EQ(ck.get("schedules", "G").toGenericDict().at("lr").toDouble(), 0.0002 * (1 - 2.0 / 3));
  for (auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(Pix2pixRun, StopMidEpochResumesExactlyWithDropoutCropsAndTheSchedule) {
  fs::path straight = run("straight", config(3));
  // Stopped after step 7: in epoch 2, after the learning rate was first lowered.
  fs::path dir = run("stopped", config(3), [](int64_t step) { if (step == 7) request_stop(SIGINT); }, 128 + SIGINT);
  clear_stop_request();
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("batch_in_epoch"), 2);
  {
    Trainer t(ck.config(), dir);
    t.restore(ck);
    EXPECT_EQ(t.train(), 0);
  }
  EXPECT_TRUE(same(weights(straight, "G"), weights(dir, "G")));
  EXPECT_TRUE(same(weights(straight, "D"), weights(dir, "D")));
  auto a = Checkpoint::read(straight / "checkpoints/last.pt"), b = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_TRUE(same(a.get_tensors("optimizers", "G"), b.get_tensors("optimizers", "G")));
  EXPECT_TRUE(same(a.get_tensors("optimizers", "D"), b.get_tensors("optimizers", "D")));
  MetricsLog ma(straight), mb(dir);
  ma.load();
  mb.load();
  for (const char* k : {"G_GAN", "G_L1", "D_real", "D_fake", "lr_G", "val_l1", "val_ssim"})
    EXPECT_EQ(ma.column(k), mb.column(k)) << k;
  EXPECT_TRUE(torch::equal(torch::tensor(read_png(straight / "samples/epoch_0003.png").pixels),
                           torch::tensor(read_png(dir / "samples/epoch_0003.png").pixels)));
  // Without the random flips the training differs (they were applied).
  fs::path noflip = run("noflip", config(1, {"no_flip=true"}));
  fs::path flip = run("flip", config(1));
  EXPECT_FALSE(same(weights(noflip, "G"), weights(flip, "G")));
}

TEST_F(Pix2pixRun, InitFromReferenceStateDictsMatchesEachFileToItsNetwork) {
  fs::path first = run("first", config(1));
  Config c = config(1, {"seed=9"});
  prepare_output_dir(tmp_ / "init", false);
  Trainer t(c, tmp_ / "init");
  t.start_new();
  // D's file as PyTorch before 0.4.1 wrote it (no num_batches_tracked), G's as it is.
  NamedTensors old_d;
  for (const auto& [k, v] : weights(first, "D"))
    if (k.find("num_batches_tracked") == std::string::npos) old_d.emplace_back(k, v);
  save_state_dict(tmp_ / "old_D.pth", old_d);
  t.init_from({tmp_ / "old_D.pth", first / "weights/G.pt"});
  EXPECT_TRUE(same(module_state(t.network("G")), weights(first, "G")));
  NamedTensors d_now;
  for (const auto& [k, v] : module_state(t.network("D")))
    if (k.find("num_batches_tracked") == std::string::npos) d_now.emplace_back(k, v);
  EXPECT_TRUE(same(d_now, old_d));
  // A file of another architecture names the closest network's missing and unexpected keys.
  fs::path other = run("other", config(1, {"ngf=4", "netD=pixel"}));
  std::string msg = test::error_message([&] { t.init_from({other / "weights/G.pt"}); });
  EXPECT_NE(msg.find("matches none of the networks"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape [4, 3, 4, 4] in the file, [2, 3, 4, 4] in the model"), std::string::npos) << msg;
}

TEST_F(Pix2pixRun, TranslateFromARunACheckpointAndAReferenceFile) {
  auto r = run_forgery("train pix2pix-facades-128 " + pairs() + " --epochs 1 " + tiny() + " --out '" +
                           (tmp_ / "run").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // A folder of label maps (the B halves) in, one 128x128 PNG per image out, same base names.
  fs::create_directories(tmp_ / "labels/sub");
  int i = 0;
  for (const auto& f : {"1.png", "2.png", "sub/3.png"}) {
    Image ab = read_png(tmp_ / "pairs/val" / (std::to_string(++i) + ".png"));
    Image b{ab.width / 2, ab.height, 3, {}};
    for (int y = 0; y < ab.height; ++y)
      b.pixels.insert(b.pixels.end(), ab.pixels.begin() + (y * ab.width + ab.width / 2) * 3,
                      ab.pixels.begin() + (y + 1) * ab.width * 3);
    write_png(tmp_ / "labels" / f, b);
  }
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --input '" + (tmp_ / "labels").string() + "' --out '" +
                      (tmp_ / "out").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"1.png", "2.png", "sub/3.png"}) {
    Image o = read_png(tmp_ / "out" / f);
    EXPECT_EQ(o.width, 128) << f;
    EXPECT_EQ(o.height, 128) << f;
  }
  // The same seed gives the same images; eval mode (no dropout, running statistics) others.
  r = run_forgery("translate '" + (tmp_ / "run/checkpoints/last.pt").string() + "' --input '" +
                      (tmp_ / "labels/1.png").string() + "' --out '" + (tmp_ / "again").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "again/1.png").pixels, read_png(tmp_ / "out/1.png").pixels);
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --eval --input '" + (tmp_ / "labels/1.png").string() +
                      "' --out '" + (tmp_ / "eval").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_png(tmp_ / "eval/1.png").pixels, read_png(tmp_ / "out/1.png").pixels);
  // weights/G.pt is a plain state_dict, as the reference saves its generators: --preset names it.
  r = run_forgery("translate '" + (tmp_ / "run/weights/G.pt").string() +
                      "' --preset pix2pix-facades-128 --set ngf=2 --input '" + (tmp_ / "labels/1.png").string() +
                      "' --out '" + (tmp_ / "ref").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "ref/1.png").pixels, read_png(tmp_ / "out/1.png").pixels);
  // --paired: A|B in, input | output | target strips, index.html, L1/PSNR/SSIM.
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --paired --input '" + (tmp_ / "pairs/val").string() +
                      "' --out '" + (tmp_ / "strips").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Image strip = read_png(tmp_ / "strips/1.png");
  EXPECT_EQ(strip.width, 3 * 128);
  EXPECT_EQ(strip.height, 128);
  // BtoA: the input panel is the B half, the target the A half (both 128 already: not resized).
  Image pair = read_png(tmp_ / "pairs/val/1.png");
  EXPECT_EQ(strip.pixels[0], pair.pixels[128 * 3]);
  EXPECT_EQ(strip.pixels[2 * 128 * 3], pair.pixels[0]);
  auto j = nlohmann::json::parse(read_file(tmp_ / "strips/metrics.json"));
  EXPECT_EQ(j["count"].get<int>(), 3);
  EXPECT_GT(j["ssim"].get<double>(), -1.0);
  EXPECT_GT(j["psnr"].get<double>(), 0.0);
  EXPECT_NE(read_file(tmp_ / "strips/index.html").find("<img src=\"2.png\""), std::string::npos);
  EXPECT_NE(r.out.find("PSNR"), std::string::npos) << r.out;
  // forgery eval measures a pix2pix run on its val pairs; a direction it was not trained for is refused.
  r = run_forgery("eval '" + (tmp_ / "run").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto e = nlohmann::json::parse(read_file(tmp_ / "run/eval/last.json"));
  EXPECT_GT(e["metrics"]["val_ssim"].get<double>(), -1.0);
  EXPECT_GT(e["metrics"]["val_psnr"].get<double>(), 0.0);
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --direction AtoB --input '" + (tmp_ / "labels/1.png").string() +
                      "' --out '" + (tmp_ / "wrongway").string() + "' --device cpu",
                  tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("trained BtoA"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "wrongway"));
}

TEST_F(Pix2pixRun, ExportWritesSafetensorsThatTranslateAndInitFromRead) {
  auto r = run_forgery("train pix2pix-facades-128 " + pairs() + " --epochs 2 " + tiny() + " --set eval_every=1 --out '" +
                           (tmp_ / "run").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("export '" + (tmp_ / "run").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The last checkpoint's networks, with the names, order and bits of weights/NAME.pt.
  for (const char* net : {"G", "D"}) {
    std::map<std::string, std::string> meta;
    NamedTensors st = load_safetensors(tmp_ / "run/weights" / (std::string(net) + ".safetensors"), &meta);
    EXPECT_TRUE(same(st, weights(tmp_ / "run", net))) << net;
    EXPECT_EQ(meta["forgery_network"], net);
    EXPECT_EQ(meta["forgery_epoch"], "2");
    EXPECT_EQ(meta["format"], "pt");
  }
  // Another checkpoint goes to weights/STEM/ by default, or to --out; --format pt as weights/ holds.
  r = run_forgery("export '" + (tmp_ / "run/checkpoints/best.pt").string() + "' --format pt", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Checkpoint best = Checkpoint::read(tmp_ / "run/checkpoints/best.pt");
  EXPECT_TRUE(same(load_state_dict(tmp_ / "run/weights/best/G.pt"), best.network("G")));
  r = run_forgery("export '" + (tmp_ / "run").string() + "' --out '" + (tmp_ / "exported").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(same(load_safetensors(tmp_ / "exported/G.safetensors"), weights(tmp_ / "run", "G")));
  // translate reads the safetensors generator as it reads the reference's .pth files.
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --input '" + (tmp_ / "pairs/val/1.png").string() +
                      "' --out '" + (tmp_ / "from_run").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("translate '" + (tmp_ / "exported/G.safetensors").string() +
                      "' --preset pix2pix-facades-128 --set ngf=2 --input '" + (tmp_ / "pairs/val/1.png").string() +
                      "' --out '" + (tmp_ / "from_st").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "from_st/1.png").pixels, read_png(tmp_ / "from_run/1.png").pixels);
  // --init-from takes safetensors files and matches each to its network.
  prepare_output_dir(tmp_ / "init", false);
  Trainer t(config(1, {"seed=9"}), tmp_ / "init");
  t.start_new();
  t.init_from({tmp_ / "exported/D.safetensors", tmp_ / "exported/G.safetensors"});
  EXPECT_TRUE(same(module_state(t.network("G")), weights(tmp_ / "run", "G")));
  EXPECT_TRUE(same(module_state(t.network("D")), weights(tmp_ / "run", "D")));
  // A damaged file is named before any run folder is made; a wrong format is a usage error.
  std::string bytes = read_file(tmp_ / "exported/G.safetensors");
  atomic_write_file(tmp_ / "cut.safetensors", bytes.substr(0, bytes.size() / 2));
  r = run_forgery("train pix2pix-facades-128 " + pairs() + " --epochs 1 " + tiny() + " --init-from '" +
                      (tmp_ / "cut.safetensors").string() + "' --out '" + (tmp_ / "never").string() + "'",
                  tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cut.safetensors: not a valid safetensors file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "never"));
  // Integers where the model keeps floating weights: a wrong file, named by key and dtype.
  NamedTensors g = weights(tmp_ / "run", "G");
  g[0].second = g[0].second.to(torch::kInt);
  save_safetensors(tmp_ / "ints.safetensors", g);
  std::string msg = test::error_message([&] { t.init_from({tmp_ / "ints.safetensors"}); });
  EXPECT_NE(msg.find(g[0].first + ": dtype Int in the file, Float in the model"), std::string::npos) << msg;
  r = run_forgery("export '" + (tmp_ / "run").string() + "' --format onnx", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--format"), std::string::npos) << r.err;
}

TEST_F(Pix2pixRun, ResumeFinishesAnEpochEndThatAKillCutShort) {
  fs::path dir = run("run", config(3, {"eval_every=1", "checkpoint_every=3"}));
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  ASSERT_EQ(ck.get_int("epoch"), 3);
  const int64_t best = ck.get_int("best_epoch");
  // As a kill -9 right after last.pt of the final epoch leaves it: the links and weights of that
  // epoch not yet written, and the temporary of a write that was in flight.
  if (best == 3) fs::remove(dir / "checkpoints/best.pt");
  fs::remove(dir / "checkpoints/epoch_0003.pt");
  const NamedTensors g = weights(dir, "G");
  NamedTensors stale = g;
  for (auto& [k, t] : stale) t = torch::zeros_like(t);
  save_state_dict(dir / "weights/G.pt", stale);
  test::write_bytes(dir / "weights/D.pt.tmp-4194305", std::vector<uint8_t>(100, 1));  // no such process
  auto r = run_forgery("resume '" + dir.string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("removed 1 temporary file(s)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "weights/D.pt.tmp-4194305"));
  EXPECT_TRUE(same(weights(dir, "G"), g));
  EXPECT_TRUE(fs::equivalent(dir / "checkpoints/epoch_0003.pt", dir / "checkpoints/last.pt"));
  if (best == 3) EXPECT_TRUE(fs::equivalent(dir / "checkpoints/best.pt", dir / "checkpoints/last.pt"));
  EXPECT_TRUE(fs::exists(dir / "checkpoints/best.pt"));
}

TEST_F(Pix2pixRun, CombineMakesPairsFromTwoFoldersOfSameNamedImages) {
  std::mt19937 rng(3);
  fs::create_directories(tmp_ / "A/train");
  fs::create_directories(tmp_ / "B/train");
  auto [a, b] = make_pair_halves(32, 24, rng);
  write_png(tmp_ / "A/train/x.png", a);
  write_png(tmp_ / "B/train/x.png", b);
  write_png(tmp_ / "A/y.png", b);
  write_png(tmp_ / "B/y.png", a);
  auto r = run_forgery("data combine '" + (tmp_ / "A").string() + "' '" + (tmp_ / "B").string() + "' '" +
                           (tmp_ / "AB").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "AB/train/x.png").pixels, side_by_side(a, b).pixels);
  EXPECT_EQ(read_png(tmp_ / "AB/y.png").pixels, side_by_side(b, a).pixels);
}

// Each bad input: a clear message naming the file or option, a non-zero exit, nothing written.
TEST_F(Pix2pixRun, BadInputsAreNamedAndNothingIsWritten) {
  auto expect_error = [&](const std::string& args, int code, std::vector<std::string> words, const fs::path& unwritten) {
    auto r = run_forgery(args, tmp_.path());
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    for (const auto& w : words) EXPECT_NE(r.err.find(w), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(unwritten)) << unwritten;
  };
  const std::string train = "train pix2pix-facades-128 --epochs 1 " + tiny() + " --out '" + (tmp_ / "run").string() + "' ";
  // A pair image too narrow to split.
  fs::path narrow = tmp_ / "narrow";
  write_pairs(narrow, 2, 1, 32);
  write_png(narrow / "train/2.png", Image{1, 32, 3, std::vector<uint8_t>(96, 100)});
  expect_error(train + "--data '" + narrow.string() + "'", 1, {"train/2.png", "1x32", "too narrow"}, tmp_ / "run");
  // Images smaller than the crop (no resizing).
  fs::path small = tmp_ / "small";
  write_pairs(small, 2, 1, 64);
  expect_error(train + "--set preprocess=crop --data '" + small.string() + "'", 1,
               {"small/train/1.png", "64x64, smaller than the 128x128 crop"}, tmp_ / "run");
  // An empty or missing train/ folder.
  fs::create_directories(tmp_ / "empty/train");
  expect_error(train + "--data '" + (tmp_ / "empty").string() + "'", 1, {"empty/train", "holds no JPEG or PNG"}, tmp_ / "run");
  fs::create_directories(tmp_ / "notrain/val");
  expect_error(train + "--data '" + (tmp_ / "notrain").string() + "'", 1, {"notrain has no train/ folder"}, tmp_ / "run");
  expect_error(train + "--data '" + (tmp_ / "nowhere").string() + "'", 1, {"pix2pix data folder", "nowhere does not exist"},
               tmp_ / "run");
  std::ofstream(tmp_ / "afile") << "x";
  expect_error(train + "--data '" + (tmp_ / "afile").string() + "'", 1, {"afile is not a folder"}, tmp_ / "run");
  // --direction misspelt, in training and in translation.
  expect_error(train + pairs() + " --set direction=AtoC", 2, {"option direction 'AtoC': AtoB or BtoA"}, tmp_ / "run");
  auto r = run_forgery(train + pairs(), tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string translate = "translate '" + (tmp_ / "run").string() + "' --device cpu --out '" + (tmp_ / "out").string() + "' ";
  expect_error(translate + "--direction AtoC --input '" + (tmp_ / "pairs/val/1.png").string() + "'", 2,
               {"--direction 'AtoC': AtoB or BtoA"}, tmp_ / "out");
  // Translating a file that is not an image, alone or among good images.
  std::ofstream(tmp_ / "notes.jpg") << "not a picture";
  expect_error(translate + "--input '" + (tmp_ / "notes.jpg").string() + "'", 1, {"notes.jpg", "neither a JPEG nor a PNG file"},
               tmp_ / "out");
  fs::create_directories(tmp_ / "mixed");
  fs::copy_file(tmp_ / "pairs/val/1.png", tmp_ / "mixed/1.png");
  std::ofstream(tmp_ / "mixed/2.png") << "\x89PNG truncated";
  expect_error(translate + "--input '" + (tmp_ / "mixed").string() + "'", 1, {"mixed/2.png"}, tmp_ / "out");
  // Translations over their own inputs, or into (or around) the input folder, are refused.
  fs::remove(tmp_ / "mixed/2.png");
  const std::string input_png = read_file(tmp_ / "mixed/1.png");
  const std::string into = "translate '" + (tmp_ / "run").string() + "' --device cpu --input '";
  expect_error(into + (tmp_ / "mixed").string() + "' --out '" + (tmp_ / "mixed").string() + "'", 2,
               {"--out", "is the input folder", "would overwrite or mix with the inputs"}, tmp_ / "mixed/index.html");
  expect_error(into + (tmp_ / "mixed").string() + "' --out '" + (tmp_ / "mixed/sub").string() + "'", 2,
               {"lies in the input folder"}, tmp_ / "mixed/sub");
  expect_error(into + (tmp_ / "mixed/1.png").string() + "' --out '" + (tmp_ / "mixed").string() + "'", 2,
               {"mixed/1.png would be written over it"}, tmp_ / "mixed/index.html");
  EXPECT_EQ(read_file(tmp_ / "mixed/1.png"), input_png);
  // A reference state_dict of another architecture: the missing and unexpected keys and the shapes.
  expect_error("translate '" + (tmp_ / "run/weights/G.pt").string() +
                   "' --preset pix2pix-facades --input '" + (tmp_ / "pairs/val/1.png").string() + "' --out '" +
                   (tmp_ / "out").string() + "' --device cpu",
               1,
               {"weights file", "G.pt", "netG unet_256", "missing: model.model.1.model.3.model.3.model.3.model.3.model.3",
                "model.model.0.weight: shape [2, 3, 4, 4] in the file, [64, 3, 4, 4] in the model"},
               tmp_ / "out");
  // A plain state_dict without --preset, and a GAN run given to translate.
  expect_error("translate '" + (tmp_ / "run/weights/G.pt").string() + "' --input x --out '" + (tmp_ / "out").string() + "'",
               2, {"--preset"}, tmp_ / "out");
  // combine: an A without its B, and halves of different sizes.
  std::mt19937 rng(1);
  auto [a, b] = make_pair_halves(32, 24, rng);
  auto [c, d] = make_pair_halves(30, 24, rng);
  fs::create_directories(tmp_ / "A");
  fs::create_directories(tmp_ / "B");
  write_png(tmp_ / "A/x.png", a);
  write_png(tmp_ / "A/lonely.png", a);
  write_png(tmp_ / "B/x.png", b);
  const std::string combine = "data combine '" + (tmp_ / "A").string() + "' '" + (tmp_ / "B").string() + "' '" +
                              (tmp_ / "AB").string() + "'";
  expect_error(combine, 1, {"A/lonely.png", "no same-named image"}, tmp_ / "AB/x.png");
  fs::remove(tmp_ / "A/lonely.png");
  write_png(tmp_ / "B/x.png", d);
  expect_error(combine, 1, {"A/x.png (32x24)", "B/x.png (30x24)", "differ in size"}, tmp_ / "AB/x.png");
  // combine into one of its inputs (or around one): refused before anything is read or written.
  write_png(tmp_ / "B/x.png", b);
  const std::string a_dir = (tmp_ / "A").string(), b_dir = (tmp_ / "B").string();
  expect_error("data combine '" + a_dir + "' '" + b_dir + "' '" + a_dir + "'", 2,
               {"the output folder " + a_dir + " is folder A", "choose an output folder outside both"}, tmp_ / "A/x.png.tmp");
  EXPECT_EQ(read_png(tmp_ / "A/x.png").pixels, a.pixels);
  expect_error("data combine '" + a_dir + "' '" + b_dir + "' '" + b_dir + "/pairs'", 2, {"lies in folder B"}, tmp_ / "B/pairs");
  expect_error("data combine '" + a_dir + "' '" + b_dir + "' '" + tmp_.path().string() + "'", 2, {"holds folder A"},
               tmp_ / "x.png");
}

}  // namespace
}  // namespace forgery
