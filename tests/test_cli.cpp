// The forgery command as a user runs it: exit codes, messages, files.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/data/idx.h"
#include "forgery/io/image.h"
#include "forgery/io/metrics.h"
#include "forgery/io/torch_file.h"
#include "forgery/train/checkpoint.h"
#include "run_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::run_forgery;
using test::TempDir;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { test::write_fake_mnist(tmp_ / "data", 600, 20); }
  std::string data() const { return "--data '" + (tmp_ / "data").string() + "'"; }
  // Runs forgery in the test's folder; it must exit with `code` and a message holding `says`.
  test::CommandResult expect_refused(const std::string& args, int code, const std::string& says) {
    auto r = run_forgery(args, tmp_.path());
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << args << "\n" << r.err;
    return r;
  }
  TempDir tmp_;
};

TEST_F(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"--help", "train --help", "resume --help", "sample --help", "data download --help", "list"}) {
    auto r = run_forgery(cmd, tmp_.path());
    EXPECT_EQ(r.exit_code, 0) << cmd << r.err;
    EXPECT_FALSE(r.out.empty()) << cmd;
  }
  auto r = run_forgery("", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  r = run_forgery("train --bogus gan-mnist", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(Cli, UsageErrorsExitTwoAndNameTheProblem) {
  auto r = run_forgery("train gan-mnst " + data(), tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown preset 'gan-mnst'"), std::string::npos) << r.err;
  r = expect_refused("train gan-mnist --set batchsize=3 " + data(), 2, "'batchsize'");
  r = expect_refused("frobnicate", 2, "unknown command 'frobnicate'; the commands are train, resume");
  r = expect_refused("train gan-mnist --epochs -3 " + data(),
                     2, "--epochs: expected a whole number of at least 1, got '-3'");
  r = expect_refused("resume run --threads 1.5", 2, "--threads: expected a whole number of at least 0, got '1.5'");
  r = expect_refused("train gan-mnist --set epochs=many " + data(), 2, "integer");
  r = run_forgery("train gan-mnist --device cuda:3 " + data(), tmp_.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cuda:3"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(tmp_.path()) || !fs::exists(tmp_ / "runs"));
}

TEST_F(Cli, MissingDataFailsBeforeWritingAnything) {
  auto r = run_forgery("train gan-mnist --data '" + (tmp_ / "absent").string() + "' --out '" + (tmp_ / "run").string() + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("absent"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "run"));
}

TEST_F(Cli, ExistingOrUnwritableOutputIsRefused) {
  fs::create_directories(tmp_ / "taken");
  std::ofstream(tmp_ / "taken" / "keep.txt") << "precious";
  auto r = run_forgery("train gan-mnist --epochs 1 " + data() + " --out '" + (tmp_ / "taken").string() + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(tmp_ / "taken" / "keep.txt"));
  std::ofstream(tmp_ / "afile") << "x";
  r = expect_refused("train gan-mnist --epochs 1 " + data() + " --out '" + (tmp_ / "afile" / "run").string() + "'",
                     1, "not a folder");
  // --force replaces a run, never a folder holding anything else.
  r = expect_refused("train gan-mnist --epochs 1 --set progress=off " + data() + " --force --out '" + (tmp_ / "taken").string() + "'",
                     2, "--force replaces only a run folder");
  EXPECT_NE(r.err.find("'keep.txt'"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(tmp_ / "taken" / "keep.txt"), "precious");
  const std::string run = (tmp_ / "run").string();
  r = run_forgery("train gan-mnist --epochs 1 --set progress=off --set seed=1 " + data() + " --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string first = read_file(tmp_ / "run" / "weights" / "generator.pt");
  // Anything of the user's inside the run's own folders is looked for too.
  fs::create_directories(tmp_ / "run" / "checkpoints" / "mine");
  std::ofstream(tmp_ / "run" / "checkpoints" / "mine" / "note.txt") << "precious";
  r = expect_refused("train gan-mnist --epochs 1 " + data() + " --force --out '" + run + "'",
                     2, "holds 'checkpoints/mine'");
  fs::remove_all(tmp_ / "run" / "checkpoints" / "mine");
  r = run_forgery("train gan-mnist --epochs 1 --set progress=off --set seed=2 " + data() + " --force --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string second = read_file(tmp_ / "run" / "weights" / "generator.pt");
  EXPECT_NE(second, first);
  // A --force run that fails on its --init-from weights or its networks' options, before it
  // starts, keeps the run it was to replace.
  save_state_dict(tmp_ / "other.pt", {{"x", at::zeros({3})}});
  r = run_forgery("train gan-mnist --epochs 1 --force " + data() + " --init-from '" + (tmp_ / "other.pt").string() +
                      "' --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("other.pt"), std::string::npos) << r.err;
  r = run_forgery("train dcgan-mnist --epochs 1 --force --set image_size=48 " + data() + " --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // Networks too large for any memory (8 TB of weights): the options are named. (Where the kernel
  // grants every allocation, overcommit mode 1, the run would be killed instead: not tried there.)
  if (read_file("/proc/sys/vm/overcommit_memory").rfind("1", 0) != 0) {
    r = run_forgery("train gan-mnist --epochs 1 --force --set nz=2000000000 --set width=1000 " + data() + " --out '" + run +
                        "'", tmp_.path());
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("not enough memory for the networks of model mlp-gan with nz 2000000000, width 1000"),
              std::string::npos) << r.err;
  }
  EXPECT_EQ(read_file(tmp_ / "run" / "weights" / "generator.pt"), second);
  EXPECT_TRUE(fs::exists(tmp_ / "run" / "checkpoints" / "last.pt"));
  // Nor a folder that holds the data the run reads (or a file it starts from).
  fs::rename(tmp_ / "data", tmp_ / "run" / "samples" / "data");
  r = run_forgery("train gan-mnist --epochs 1 --force --data '" + (tmp_ / "run" / "samples" / "data").string() +
                      "' --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--force would remove the data folder (data_dir)"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::is_empty(tmp_ / "run" / "samples" / "data"));
  fs::rename(tmp_ / "run" / "samples" / "data", tmp_ / "data");
  r = run_forgery("train gan-mnist --epochs 1 --force " + data() + " --init-from '" + run + "/weights/generator.pt' --out '" +
                      run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--force would remove the --init-from file"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(tmp_ / "run" / "weights" / "generator.pt"));
}

// resume checks that the checkpoint is of the folder's own run, and follows data that moved.
TEST_F(Cli, ResumeRefusesAnotherRunsCheckpointAndFollowsMovedData) {
  const std::string a = (tmp_ / "a").string(), b = (tmp_ / "b").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --set progress=off " + data() + " --out '" + a + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("train dcgan-mnist --epochs 1 --set progress=off --set image_size=16 --set ngf=4 --set ndf=4 " + data() +
                      " --out '" + b + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path own = tmp_ / "a" / "checkpoints" / "last.pt";
  fs::rename(own, tmp_ / "own.pt");
  fs::copy_file(tmp_ / "b" / "checkpoints" / "last.pt", own);
  const std::string metrics = read_file(tmp_ / "a" / "metrics.jsonl");
  r = expect_refused("resume '" + a + "' --epochs 2", 1, "is a checkpoint of model dcgan, and the run folder's config.toml is of mlp-gan");
  EXPECT_EQ(read_file(tmp_ / "a" / "metrics.jsonl"), metrics);
  fs::remove(own);
  fs::rename(tmp_ / "own.pt", own);
  // The data moved: named as missing; --set data_dir follows it.
  fs::rename(tmp_ / "data", tmp_ / "moved");
  r = expect_refused("resume '" + a + "' --epochs 2 --set progress=off", 1, "does not exist");
  r = run_forgery("resume '" + a + "' --epochs 2 --set progress=off --set data_dir=moved", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_file(tmp_ / "a" / "config.toml").find((tmp_ / "moved").string()), std::string::npos);
  fs::rename(tmp_ / "moved", tmp_ / "data");
}

// Learning rates that blow the weights up: the run stops and says so, whichever loss meets the NaNs
// first (BCE refuses them within a step; LSGAN's mean shows them at the epoch's end), and writes
// no checkpoint of the diverged weights. On the CPU: on CUDA, BCE's kernel asserts instead
// (CudaRun.ADivergedRunStopsAndSaysSo).
TEST_F(Cli, ADivergedRunStopsAndSaysSo) {
  const std::string run = (tmp_ / "run").string();
  for (const std::string loss : {"bce", "lsgan"}) {
    fs::remove_all(run);
    auto r = run_forgery("train gan-mnist --epochs 1 --device cpu --set progress=off --set lr_g=1e30 --set lr_d=1e30 --set loss=" + loss +
                             " " + data() + " --out '" + run + "'",
                         tmp_.path());
    EXPECT_EQ(r.exit_code, 1) << loss << "\n" << r.err;
    EXPECT_NE(r.err.find("training diverged in"), std::string::npos) << loss << "\n" << r.err;
    EXPECT_NE(r.err.find("no longer finite numbers"), std::string::npos) << loss << "\n" << r.err;
    EXPECT_NE(r.err.find("lower the learning rates"), std::string::npos) << loss << "\n" << r.err;
    EXPECT_FALSE(fs::exists(tmp_ / "run" / "checkpoints" / "last.pt")) << loss;
  }
}

// A run that fails before its first checkpoint takes back its folder, so that the same command
// runs again once the cause is mended (no --force, no half-made run to resume).
TEST_F(Cli, ARunThatFailsBeforeItsFirstCheckpointLeavesNoFolder) {
  const std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train dcgan-mnist --epochs 1 --set image_size=48 " + data() + " --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("image_size 48"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "run")) << "a folder made by the failed start";
  fs::create_directories(tmp_ / "empty");
  r = run_forgery("train dcgan-mnist --epochs 1 --set image_size=48 " + data() + " --out '" + (tmp_ / "empty").string() + "'",
                  tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_TRUE(fs::is_directory(tmp_ / "empty")) << "a folder the user made stays";
  EXPECT_TRUE(fs::is_empty(tmp_ / "empty"));
  r = run_forgery("train dcgan-mnist --epochs 1 --set progress=off --set image_size=16 --set ngf=4 --set ndf=4 " + data() +
                      " --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// One process at a time trains in a run folder: a second resume, or a train --force over it,
// is refused while the first runs, naming it.
TEST_F(Cli, ARunFolderInUseIsRefused) {
  const std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --set progress=off " + data() + " --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  {
    RunFolderLock held(tmp_ / "run");  // as a training process holds it
    r = run_forgery("resume '" + run + "' --epochs 2", tmp_.path());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is in use: another forgery process (pid " + std::to_string(getpid()) + ")"), std::string::npos)
        << r.err;
    r = run_forgery("train gan-mnist --epochs 1 --force " + data() + " --out '" + run + "'", tmp_.path());
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("is in use"), std::string::npos) << r.err;
    EXPECT_TRUE(fs::exists(tmp_ / "run" / "checkpoints" / "last.pt"));
  }
  r = run_forgery("resume '" + run + "' --epochs 2 --set progress=off", tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A run still before its first checkpoint: in use, not "nothing to resume".
  fs::create_directories(tmp_ / "young");
  RunFolderLock held(tmp_ / "young");
  r = expect_refused("resume '" + (tmp_ / "young").string() + "'", 1, "is in use");
}

TEST_F(Cli, ResumeCanLengthenALinearScheduleAndNamesUnknownOptions) {
  const std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train gan-mnist --epochs 2 --set progress=off --set lr_policy=linear --set n_epochs=1 "
                       "--set n_epochs_decay=1 " + data() + " --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = expect_refused("resume '" + run + "' --epochs 3",
                     2, "raise n_epochs or n_epochs_decay (--set n_epochs=N, also when resuming)");
  r = expect_refused("resume '" + run + "' --set frobs=1", 2, "resume --set frobs: unknown option");
  r = expect_refused("resume '" + run + "' --set lr_g=1", 2, "keeps the options it was started with");
  r = run_forgery("resume '" + run + "' --epochs 3 --set n_epochs_decay=2 --set progress=off", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("n_epochs_decay 1 -> 2: the learning-rate schedule changes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 3/3"), std::string::npos) << r.out;
  // Epochs 1 and 2 at factors 1 and 1/2 of the old schedule, which then ran out (0); epoch 3 at
  // the new schedule's 1 - (2 + 1 - 1) / (2 + 1) = 1/3, not at the old schedule's 0.
  MetricsLog metrics(run);
  metrics.load();
  const std::vector<double> lr = metrics.column("lr_G");
  ASSERT_EQ(lr.size(), 3u);
  EXPECT_DOUBLE_EQ(lr[0], 0.0002);
  EXPECT_DOUBLE_EQ(lr[1], 0.0001);
  EXPECT_NEAR(lr[2], 0.0002 / 3, 1e-12);
}

TEST_F(Cli, SampleChecksItsOutputsBeforeWritingAny) {
  const std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --set progress=off " + data() + " --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = expect_refused("sample '" + run + "' --n 4 --out '" + (tmp_ / "grid.jpg").string() + "'",
                     2, "the grid is written as PNG; give a .png name");
  // An output name that is a folder is refused before the other outputs are written.
  fs::create_directories(tmp_ / "adir");
  r = expect_refused("sample '" + run + "' --n 4 --out '" + (tmp_ / "first.png").string() + "' --idx '" +
                         (tmp_ / "adir").string() + "'",
                     2, "sample --idx: " + (tmp_ / "adir").string() + " is a folder; give a file name");
  EXPECT_FALSE(fs::exists(tmp_ / "first.png"));
  // A seed beyond the generator's 32 bits would repeat a smaller one's noise.
  r = expect_refused("sample '" + run + "' --n 4 --seed 4294967296 --out '" + (tmp_ / "grid.png").string() + "'",
                     2, "at most 4294967295, got '4294967296'");
  EXPECT_FALSE(fs::exists(tmp_ / "grid.png"));
  const std::string single = (tmp_ / "single").string();
  r = run_forgery("sample '" + run + "' --n 4 --single '" + single + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("sample '" + run + "' --n 2 --seed 5 --out '" + (tmp_ / "grid.png").string() + "' --single '" + single + "'",
                  tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already holds numbered images"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "grid.png")) << "the grid was written before the refusal";
}

TEST_F(Cli, SampleAndExportUseTheAverageOfARunThatKeptOne) {
  const std::string with = (tmp_ / "with").string(), plain = (tmp_ / "plain").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --set progress=off --set ema_kimg=1 " + data() + " --out '" + with + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("train gan-mnist --epochs 1 --set progress=off " + data() + " --out '" + plain + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto grid = [&](const std::string& run, const std::string& name, const std::string& extra) {
    auto s = run_forgery("sample '" + run + "' --n 8 --out '" + (tmp_ / name).string() + "'" + extra, tmp_.path());
    EXPECT_EQ(s.exit_code, 0) << s.err;
    return s;
  };
  r = grid(with, "average.png", "");
  EXPECT_NE(r.err.find("the moving average of generator's weights"), std::string::npos) << r.err;
  r = grid(with, "trained.png", " --no-ema");
  EXPECT_EQ(r.err.find("moving average"), std::string::npos) << r.err;
  grid(plain, "plain.png", "");
  // The average changes no training: --no-ema samples the weights of the run without one.
  EXPECT_EQ(read_png(tmp_ / "trained.png").pixels, read_png(tmp_ / "plain.png").pixels);
  EXPECT_NE(read_png(tmp_ / "average.png").pixels, read_png(tmp_ / "trained.png").pixels);
  r = run_forgery("export '" + with + "' --out '" + (tmp_ / "exported").string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(tmp_ / "exported/generator_ema.safetensors"));
  EXPECT_TRUE(fs::exists(tmp_ / "exported/generator.safetensors"));
}

TEST_F(Cli, ParseErrorsSayWhereTheOptionsAre) {
  auto r = run_forgery("train", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("forgery: error: preset_or_config is required (forgery train --help)"), std::string::npos) << r.err;
  r = expect_refused("data combine a", 2, "forgery: error: b_dir is required (forgery data combine --help)");
  // An empty value (an unset shell variable) is refused, not taken as the option left out.
  r = expect_refused("train gan-mnist --out '' " + data(), 2, "forgery: error: train --out: empty value");
  EXPECT_FALSE(fs::exists(tmp_ / "runs"));
  r = expect_refused("eval train-classifier --out ''", 2, "forgery: error: eval train-classifier --out: empty value");
  r = expect_refused("sample run --out g.png --label ''", 2, "forgery: error: sample --label: empty value");
  r = expect_refused("train gan-mnist --set loss=vanilla " + data(),
                     2, "option loss 'vanilla': the GAN family supports bce and lsgan");
}

TEST_F(Cli, TrainSampleResume) {
  std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --device cpu --set progress=off " + data() + " --out '" + run + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 1/1"), std::string::npos) << r.out;
  {
    // The run's last line accounts for its time: the parts (each rounded to 0.1 s) add up.
    const size_t at = r.out.find("time: ");
    ASSERT_NE(at, std::string::npos) << r.out;
    double total = -1, start = -1, steps = -1, ends = -1, losses = -1, drawing = -1, snapshots = -1, final_files = -1;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at,
                          "time: %lf s in all: %lf s before the first step, %lf s in the steps, %lf s at the epochs' "
                          "ends (%lf s reading the losses, %lf s drawing, %lf s the checkpoints' snapshots), %lf s "
                          "for the final files",
                          &total, &start, &steps, &ends, &losses, &drawing, &snapshots, &final_files),
              8)
        << r.out.substr(at);
    for (double v : {start, steps, ends, losses, drawing, snapshots, final_files}) EXPECT_GE(v, 0.0) << r.out.substr(at);
    EXPECT_GT(steps, 0.0);
    EXPECT_NEAR(start + steps + ends + final_files, total, 0.25) << r.out.substr(at);
    EXPECT_LE(losses + drawing + snapshots, ends + 0.07) << r.out.substr(at);
  }
  r = run_forgery("sample '" + run + "' --n 16 --seed 3 --out grid.png --single singles", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Image grid = read_png(tmp_ / "grid.png");
  EXPECT_EQ(grid.width, 242);
  EXPECT_EQ(grid.height, 62);
  int singles = 0;
  for (auto& e : fs::directory_iterator(tmp_ / "singles")) singles += e.path().extension() == ".png";
  EXPECT_EQ(singles, 16);
  // all images as one IDX file, readable as an image set
  r = run_forgery("sample '" + run + "' --n 16 --seed 3 --idx s.idx", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  IdxArray idx = read_idx(tmp_ / "s.idx", 3);
  EXPECT_EQ(idx.dims, (std::vector<int64_t>{16, 28, 28}));
  // A .gz name is written gzip-compressed, as the published MNIST files are.
  r = run_forgery("sample '" + run + "' --n 16 --seed 3 --idx s.idx.gz", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string gz = read_file(tmp_ / "s.idx.gz");
  ASSERT_GT(gz.size(), 2u);
  EXPECT_EQ(gz.substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(read_idx(tmp_ / "s.idx.gz", 3).data, idx.data);
  // the same seed gives the same images
  r = run_forgery("sample '" + run + "/checkpoints/last.pt' --n 16 --seed 3 --out grid2.png", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "grid2.png").pixels, grid.pixels);
  // Output folders that do not exist yet are created (as --single's is).
  r = run_forgery("sample '" + run + "' --n 16 --seed 3 --out new/grids/grid.png --idx new/idx/s.idx", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "new/grids/grid.png").pixels, grid.pixels);
  EXPECT_EQ(read_idx(tmp_ / "new/idx/s.idx", 3).dims, (std::vector<int64_t>{16, 28, 28}));
  // A folder that cannot be created is named.
  test::write_bytes(tmp_ / "plainfile", std::vector<uint8_t>{1});
  r = expect_refused("sample '" + run + "' --n 4 --out plainfile/grid.png",
                     1, "sample --out plainfile/grid.png: cannot create folder plainfile");
  // A resumed run keeps what it computes; only how it runs may change.
  r = expect_refused("resume '" + run + "' --epochs 2 --set seed=3",
                     2, "resume --set seed: a resumed run keeps the options it was started with");
  r = expect_refused("resume '" + run + "' --epochs 2 --set cuda_graphs=on",
                     2, "option cuda_graphs on: the device is the CPU");
  r = expect_refused("resume '" + run + "' --epochs 2 --set cuda_graphs=sometimes",
                     2, "option cuda_graphs 'sometimes': expected auto, on or off");
  r = run_forgery("resume '" + run + "' --epochs 2 --set async_writes=false", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  EXPECT_EQ(Checkpoint::read(tmp_ / "run/checkpoints/last.pt").get_int("epoch"), 2);
  r = run_forgery("resume '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("already done 2 of 2"), std::string::npos) << r.err;
}

TEST_F(Cli, AFailedCheckpointWriteKeepsTheLastOneResumable) {
  // A file size limit (as a full disk) lets the small artifacts through but not the checkpoint.
  std::string run = (tmp_ / "run").string();
  auto r = run_forgery("train gan-mnist --epochs 1 --set progress=off " + data() + " --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string before = read_file(tmp_ / "run/checkpoints/last.pt");
  ASSERT_GT(before.size(), 4u << 20);
  std::string cmd = "cd '" + tmp_.path().string() + "' && ulimit -f 4096 && '" + std::string(FORGERY_BINARY) +
                    "' resume '" + run + "' --epochs 2 >'" + (tmp_ / "out.txt").string() + "' 2>'" +
                    (tmp_ / "err.txt").string() + "'";
  int status = std::system(cmd.c_str());
  std::string err = read_file(tmp_ / "err.txt");
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << "\n" << err;
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_NE(err.find("last.pt"), std::string::npos) << err;
  EXPECT_NE(err.find("File too large"), std::string::npos) << err;
  EXPECT_EQ(read_file(tmp_ / "run/checkpoints/last.pt"), before);
  for (const auto& e : fs::recursive_directory_iterator(run))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // Without the limit it resumes from epoch 1 and ends as a run never interrupted.
  r = run_forgery("resume '" + run + "' --epochs 2", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("train gan-mnist --epochs 2 --set progress=off " + data() + " --out '" + (tmp_ / "straight").string() + "'",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tmp_ / "run/weights/generator.pt"), read_file(tmp_ / "straight/weights/generator.pt"));
  auto m = read_file(tmp_ / "run/metrics.jsonl");
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 2) << m;
}

TEST_F(Cli, ConditionalFolderRunAndSampleByLabel) {
  // Two classes of 16x16 colour PNGs in sub-folders (the ImageFolder layout), one image of
  // another size (resized), one corrupt file skipped with skip_bad_images.
  std::mt19937 rng(4);
  for (const char* cls : {"circles", "squares"}) {
    fs::create_directories(tmp_ / "folder" / cls);
    for (int i = 0; i < 40; ++i) {
      Image img;
      img.width = img.height = (i == 0 ? 24 : 16);
      img.channels = 3;
      img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
      for (auto& p : img.pixels) p = static_cast<uint8_t>(rng() % 256);
      write_png(tmp_ / "folder" / cls / ("img" + std::to_string(i) + ".png"), img);
    }
  }
  std::ofstream(tmp_ / "folder" / "squares" / "broken.png") << "\x89PNG\r\n\x1a\ncut";
  std::string run = (tmp_ / "crun").string();
  std::string common = "train cdcgan-mnist --epochs 1 --set dataset=folder --set channels=3 --set image_size=16 "
                       "--set num_classes=2 --set ngf=4 --set ndf=4 --set batch_size=32 --set progress=off "
                       "--set sample_size=8 --set grid_nrow=4 --data '" + (tmp_ / "folder").string() + "'";
  auto r = run_forgery(common + " --out '" + run + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(run));  // nothing written before the data is known to be good
  r = run_forgery(common + " --set skip_bad_images=true --out '" + run + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 1 unreadable image of 81"), std::string::npos) << r.err;
  EXPECT_EQ(Checkpoint::read(tmp_ / "crun/checkpoints/last.pt").get("recipe_state", "class_names").toStringRef(), "circles\nsquares");
  // --label by name or number, --label all: one row per class.
  r = run_forgery("sample '" + run + "' --n 6 --label squares --out sq.png", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("sample '" + run + "' --n 6 --label 1 --out one.png", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "sq.png").pixels, read_png(tmp_ / "one.png").pixels);
  r = run_forgery("sample '" + run + "' --n 6 --label 0 --out zero.png", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_png(tmp_ / "zero.png").pixels, read_png(tmp_ / "one.png").pixels);
  r = run_forgery("sample '" + run + "' --label all --nrow 5 --out all.png", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Image all = read_png(tmp_ / "all.png");
  EXPECT_EQ(all.width, 5 * 16 + 6 * 2);
  EXPECT_EQ(all.height, 2 * 16 + 3 * 2);
  EXPECT_EQ(all.channels, 3);
  r = expect_refused("sample '" + run + "' --label 2 --out x.png",
                     2, "between 0 and 1, a class name (circles, squares)");
  r = run_forgery("sample '" + run + "' --label all --n 4 --out x.png", tmp_.path());
  EXPECT_EQ(r.exit_code, 2);
  // eval of a folder run: against its own training images, through a feature network (the
  // MNIST classifier does not apply); a conditional model's samples cycle through the classes.
  r = expect_refused("eval '" + run + "'", 2, "give --features NET.pt");
  r = run_forgery("eval '" + run + "' --n 40 --features '" + test::fixture("ts_features.pt").string() + "' --out ev.json",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string report = read_file(tmp_ / "ev.json");
  for (const char* want : {"\"real_count\": 40", "\"fake_count\": 40", "\"fid\"", "\"kid_mean\"", "\"precision\""})
    EXPECT_NE(report.find(want), std::string::npos) << want << "\n" << report;
  EXPECT_NE(report.find("\"real\": \"" + (tmp_ / "folder").string() + "\""), std::string::npos) << report;
  // An unconditional model has no labels.
  r = run_forgery("train gan-mnist --epochs 1 --set width=8 --set progress=off " + data() + " --out u", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = expect_refused("sample u --label 3 --out x.png", 2, "not conditional");
  // A folder with a single class cannot train a conditional model.
  fs::create_directories(tmp_ / "single" / "only");
  fs::copy_file(tmp_ / "folder" / "circles" / "img1.png", tmp_ / "single" / "only" / "a.png");
  r = run_forgery("train cdcgan-mnist --set dataset=folder --set num_classes=2 --set image_size=16 --data '" +
                  (tmp_ / "single").string() + "' --out one", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("1 class sub-folder (only); a conditional model needs at least two"), std::string::npos) << r.err;
}

// eval_every with a feature network of the user's (eval_features): folder runs, which the MNIST
// classifier cannot measure, and MNIST runs. The metrics that need class probabilities are left
// out with a note; forgery eval of the run uses the same network unless told otherwise.
TEST_F(Cli, EvalEveryWithEvalFeaturesMeasuresFolderAndMnistRuns) {
  test::write_noise_pngs(tmp_ / "faces", 48, 16, 5);
  const std::string features = test::fixture("ts_features.pt").string();
  const std::string common = "train dcgan-mnist --epochs 2 --set dataset=folder --set channels=3 --set image_size=16 "
                             "--set ngf=4 --set ndf=4 --set batch_size=16 --set progress=off --set sample_size=4 "
                             "--set eval_every=1 --set eval_n=24 --data faces";
  // Refused before anything is written: no feature network, a missing one, only metrics it cannot give.
  expect_refused(common + " --out r0", 2, "option eval_every with dataset folder needs eval_features");
  expect_refused(common + " --set eval_features=missing.pt --out r0", 1, "missing.pt");
  expect_refused(common + " --set eval_features=" + features + " --set eval_metrics=is,classes --out r0", 2,
                 "option eval_metrics 'is,classes': with eval_features only fid, kid and pr");
  expect_refused(common + " --set eval_features=" + features + " --set eval_metrics=fid,sharpness --out r0", 2,
                 "option eval_metrics 'fid,sharpness': unknown metric 'sharpness'");
  // A network that cannot give features is found on a test batch, before the first epoch.
  expect_refused(common + " --set eval_features=" + test::fixture("ts_bad_shape.pt").string() + " --out r0", 1,
                 "ts_bad_shape.pt returned shape");
  expect_refused(common + " --set eval_features=" + test::fixture("ts_raises.pt").string() + " --out r0", 1,
                 "ts_raises.pt failed on a batch of [2, 3, 299, 299]");
  expect_refused(common + " --set eval_features=faces --out r0", 1, "faces is a folder, not a TorchScript network");
  EXPECT_FALSE(fs::exists(tmp_ / "r0"));
  // A relative path, kept absolute in the run's config (eval from another folder finds it).
  fs::copy_file(features, tmp_ / "net.pt");
  auto r = run_forgery(common + " --set eval_features=net.pt --out run", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("eval_every: is, classes left out: the MNIST classifier's class probabilities are needed"),
            std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("is, classes left out", r.err.find("is, classes left out") + 1), std::string::npos)
      << "said once: " << r.err;
  MetricsLog log(tmp_ / "run");
  log.load();
  for (const char* k : {"fid", "kid_mean", "precision", "recall"}) {
    ASSERT_EQ(log.column(k).size(), 2u) << k;
    for (double v : log.column(k)) EXPECT_TRUE(std::isfinite(v)) << k;
  }
  EXPECT_TRUE(log.column("is").empty() || std::isnan(log.column("is")[0]));
  EXPECT_TRUE(fs::exists(tmp_ / "run/checkpoints/best.pt"));
  EXPECT_NE(read_file(tmp_ / "run/config.toml").find((tmp_ / "net.pt").string()), std::string::npos);
  // forgery eval of the run, from another folder: the run's eval_features, said so.
  fs::create_directories(tmp_ / "elsewhere");
  r = run_forgery("eval '" + (tmp_ / "run").string() + "' --n 24 --out ev.json", tmp_ / "elsewhere");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("(the run's eval_features)"), std::string::npos) << r.err;
  const std::string report = read_file(tmp_ / "elsewhere/ev.json");
  for (const char* want : {"\"fid\"", "\"kid_mean\"", "\"real_count\": 24"})
    EXPECT_NE(report.find(want), std::string::npos) << want << "\n" << report;
  EXPECT_NE(report.find("\"device\": \"cpu\""), std::string::npos) << report;
  // --device: where the generator and the feature network run (the CPU unless told).
  const std::string eval_run = "eval '" + (tmp_ / "run").string() + "' --n 24";
  expect_refused(eval_run + " --device gpu0 --out x.json", 2, "device 'gpu0': not a device name");
  if (!cuda_available()) {
    expect_refused(eval_run + " --device cuda --out x.json", 2, "CUDA is not available");
  } else {
    r = run_forgery(eval_run + " --device cuda --out evc.json", tmp_ / "elsewhere");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string on_gpu = read_file(tmp_ / "elsewhere/evc.json");
    EXPECT_NE(on_gpu.find("\"device\": \"cuda:0\""), std::string::npos) << on_gpu;
    const auto fid = [](const std::string& j) { return std::stod(j.substr(j.find("\"fid\": ") + 7)); };
    EXPECT_NEAR(fid(on_gpu), fid(report), 0.02 * fid(report) + 1e-9) << on_gpu << "\n" << report;
  }
  // The network moved: resume names it, and follows it with --set eval_features.
  fs::rename(tmp_ / "net.pt", tmp_ / "moved.pt");
  expect_refused("resume run --epochs 3", 1, "option eval_features " + (tmp_ / "net.pt").string() + " does not exist");
  r = run_forgery("resume run --epochs 3 --set eval_features=moved.pt", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  MetricsLog resumed(tmp_ / "run");
  resumed.load();
  ASSERT_EQ(resumed.column("fid").size(), 3u);
  EXPECT_TRUE(std::isfinite(resumed.column("fid")[2]));
  // Moved again after the run has finished: resume writes no checkpoint then, and forgery eval
  // follows the run folder's config.toml.
  fs::rename(tmp_ / "moved.pt", tmp_ / "moved2.pt");
  r = run_forgery("eval run --n 24 --out x.json", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("moved.pt does not exist: give --features FILE, or record where it moved with forgery resume"),
            std::string::npos) << r.err;
  r = run_forgery("resume run --set eval_features=moved2.pt", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_forgery("eval run --n 24 --out x.json", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find((tmp_ / "moved2.pt").string() + " (the run's eval_features)"), std::string::npos) << r.err;
  fs::rename(tmp_ / "moved2.pt", tmp_ / "net.pt");
  // A folder with no more images than the features have dimensions (8): FID is left out with a
  // note (and so is best.pt); the other metrics are logged, and the run completes.
  fs::create_directories(tmp_ / "few");
  for (int i = 0; i < 6; ++i) fs::copy_file(tmp_ / "faces" / ("f" + std::to_string(i) + ".png"), tmp_ / "few" / ("f" + std::to_string(i) + ".png"));
  r = run_forgery("train dcgan-mnist --epochs 1 --set dataset=folder --set channels=3 --set image_size=16 --set ngf=4 "
                  "--set ndf=4 --set batch_size=2 --set progress=off --set sample_size=4 --set eval_every=1 "
                  "--set eval_n=20 --set eval_features=net.pt --data few --out small", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no FID (and no best.pt, which follows it): 6 real and 20 generated images, and FID needs more "
                       "than the 8 dimensions"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("eval: 20 images (6 real):"), std::string::npos) << r.out;
  MetricsLog small(tmp_ / "small");
  small.load();
  EXPECT_TRUE(std::isnan(small.column("fid").at(0)));
  EXPECT_TRUE(std::isfinite(small.column("kid_mean").at(0)));
  EXPECT_FALSE(fs::exists(tmp_ / "small/checkpoints/best.pt"));
  // forgery eval refuses instead, naming the way out.
  expect_refused("eval small --n 20 --out x.json", 2, "eval: no FID from 6 real and 20 generated images");
  // An MNIST run measured by the same network: the test images are the real set.
  r = run_forgery("train gan-mnist --epochs 1 --set width=8 --set progress=off --set eval_every=1 --set eval_n=50 "
                  "--set eval_metrics=fid,kid --set eval_features=net.pt " + data() + " --out m",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("no is"), std::string::npos) << r.err;
  MetricsLog mlog(tmp_ / "m");
  mlog.load();
  ASSERT_EQ(mlog.column("fid").size(), 1u);
  EXPECT_TRUE(std::isfinite(mlog.column("fid")[0]));
  EXPECT_TRUE(std::isfinite(mlog.column("kid_mean")[0]));
  // resume --set is for the same network moved, not for another one: FIDs and best.pt would mix.
  expect_refused("resume m --epochs 2 --set eval_features=" + test::fixture("ts_bad_shape.pt").string(), 2,
                 "not the network the run was measured with (" + (tmp_ / "net.pt").string() + " is still there");
  expect_refused("resume m --epochs 2 --set eval_features=", 2, "the run was measured with " + (tmp_ / "net.pt").string());
  expect_refused("resume m --epochs 2 --set eval_features=nothere.pt", 2, "nothere.pt: no such file");
  expect_refused("resume m --epochs 2 --set eval_classifier=nothere.pt", 2,
                 "the run was measured with the default network");
}

TEST_F(Cli, CorruptCheckpointIsNamedOnResumeAndSample) {
  fs::create_directories(tmp_ / "run/checkpoints");
  std::ofstream(tmp_ / "run/checkpoints/last.pt") << "PK\x03\x04garbage";
  auto r = run_forgery("resume '" + (tmp_ / "run").string() + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("last.pt"), std::string::npos) << r.err;
  r = expect_refused("sample '" + (tmp_ / "run").string() + "' --out x.png", 1, "last.pt");
  r = run_forgery("resume '" + (tmp_ / "nothing").string() + "'", tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
}

TEST_F(Cli, SigintStopsSavesAndResumes) {
  fs::path run = tmp_ / "run", out = tmp_ / "out.txt", err = tmp_ / "err.txt";
  pid_t pid = fork();
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    std::string d = (tmp_ / "data").string(), o = run.string();
    execl(FORGERY_BINARY, FORGERY_BINARY, "train", "gan-mnist", "--epochs", "200", "--data", d.c_str(), "--out",
          o.c_str(), "--set", "progress=off", (char*)nullptr);
    _exit(127);
  }
  // Wait for the first epoch to finish, then interrupt.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("epoch 1/200") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  std::ifstream ein(err);
  std::string errors((std::istreambuf_iterator<char>(ein)), std::istreambuf_iterator<char>());
  EXPECT_NE(errors.find("forgery resume"), std::string::npos) << errors;
  Checkpoint ck = Checkpoint::read(run / "checkpoints/last.pt");
  int64_t done = ck.get_int("epoch");
  EXPECT_GE(done, 1);
  EXPECT_LT(done, 200);
  auto r = run_forgery("resume '" + run.string() + "' --epochs " + std::to_string(done + 1), tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Checkpoint::read(run / "checkpoints/last.pt").get_int("epoch"), done + 1);
}

}  // namespace
}  // namespace forgery
