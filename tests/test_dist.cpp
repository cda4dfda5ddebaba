// Data-parallel training on c10d: ranks are real processes of the forgery tool (Gloo on
// 127.0.0.1, one thread each), meeting through a FileStore in the test's folder, through the
// --nproc launcher's TCP store, or through a store the test serves as torchrun's agent would.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <thread>

#include "forgery/core/runtime.h"
#include "forgery/dist/dist.h"
#include "forgery/dist/nccl.h"
#include "forgery/features.h"
#include "forgery/io/metrics.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/options.h"
#include "run_fixture.h"

#if FORGERY_HAVE_DIST
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace forgery {
namespace {

using test::same;
using test::TempDir;
using test::weights;
using Clock = std::chrono::steady_clock;

// One rank: the forgery tool with the environment of a data-parallel worker.
struct Rank {
  pid_t pid = -1;
  fs::path out, err;
  int code = -1;
  double seconds = 0;  // from start to exit
  Clock::time_point started;
  std::string stderr_text() const { return read_file(err); }
};

Rank start_rank(const fs::path& workdir, const std::string& name, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env, rlim_t file_size_limit = 0) {
  Rank r;
  r.out = workdir / (name + ".out");
  r.err = workdir / (name + ".err");
  r.started = Clock::now();
  r.pid = ::fork();
  if (r.pid == 0) {
    if (::chdir(workdir.c_str()) != 0) ::_exit(120);
    if (file_size_limit > 0) {
      struct rlimit lim {file_size_limit, file_size_limit};
      ::setrlimit(RLIMIT_FSIZE, &lim);
    }
    int o = ::open(r.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = ::open(r.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                          "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT", "FORGERY_WORKER"})
      ::unsetenv(k);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<std::string> all = {FORGERY_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(FORGERY_BINARY, argv.data());
    ::_exit(127);
  }
  return r;
}

// Waits for the rank to exit (at most `limit` seconds, then kills it and fails).
void finish(Rank& r, double limit = 240) {
  for (;;) {
    int status = 0;
    pid_t p = ::waitpid(r.pid, &status, WNOHANG);
    if (p == r.pid) {
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      r.seconds = std::chrono::duration<double>(Clock::now() - r.started).count();
      return;
    }
    if (std::chrono::duration<double>(Clock::now() - r.started).count() > limit) {
      ::kill(r.pid, SIGKILL);
      ::waitpid(r.pid, &status, 0);
      ADD_FAILURE() << "rank did not exit within " << limit << " s; stderr: " << r.stderr_text();
      r.code = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The worker of a --nproc launcher with RANK=`rank` (from its environment).
pid_t worker_of(pid_t launcher, int rank) {
  std::ifstream children("/proc/" + std::to_string(launcher) + "/task/" + std::to_string(launcher) + "/children");
  for (pid_t pid; children >> pid;) {
    std::ifstream env("/proc/" + std::to_string(pid) + "/environ");
    // NUL-separated NAME=VALUE entries, one more NUL in front so that every entry has one.
    std::string all = std::string(1, '\0') +
                      std::string((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
    if (all.find(std::string(1, '\0') + "RANK=" + std::to_string(rank) + std::string(1, '\0')) != std::string::npos)
      return pid;
  }
  return -1;
}

bool wait_until(const std::function<bool()>& done, double limit) {
  auto t0 = Clock::now();
  while (!done()) {
    if (std::chrono::duration<double>(Clock::now() - t0).count() > limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

size_t metric_rows(const fs::path& run) {
  std::ifstream in(run / "metrics.jsonl");
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// ||a - b|| / ||a|| over every tensor of two state_dicts.
double relative_difference(const NamedTensors& a, const NamedTensors& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i].second.to(at::kDouble) - b[i].second.to(at::kDouble)).pow(2).sum().item<double>();
    den += a[i].second.to(at::kDouble).pow(2).sum().item<double>();
  }
  return std::sqrt(num / den);
}

class Dist : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!dist::available()) GTEST_SKIP() << "this build has no data-parallel training (no Gloo headers)";
    test::write_fake_mnist(tmp_ / "mnist", 1024, 64, false);
  }
  // gan-mnist on the small data: 4 steps of 256 an epoch, one thread per rank.
  std::vector<std::string> gan(const std::string& out, int epochs, std::vector<std::string> extra = {}) {
    // On the CPU also where there is a GPU: these are Gloo's tests (one thread per rank).
    std::vector<std::string> a = {"train", "gan-mnist", "--data", (tmp_ / "mnist").string(), "--out", out,
                                  "--epochs", std::to_string(epochs), "--device", "cpu", "--threads", "1",
                                  "--set", "batch_size=256", "--set", "progress=off"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  // Ranks 0..world-1 meeting through a FileStore in the test's folder.
  std::vector<Rank> start_world(int world, const std::vector<std::string>& args, const std::string& store,
                                std::map<std::string, std::string> env = {}) {
    std::vector<Rank> ranks;
    std::vector<std::string> a = args;
    a.push_back("--dist-init");
    a.push_back("file:" + (tmp_ / store).string());
    for (int r = 0; r < world; ++r) {
      env["RANK"] = std::to_string(r);
      env["WORLD_SIZE"] = std::to_string(world);
      ranks.push_back(start_rank(tmp_.path(), store + "-rank" + std::to_string(r), a, env));
    }
    return ranks;
  }
  TempDir tmp_;
};

TEST(DistWorld, ReadsTorchrunsEnvironmentAndNamesWhatIsWrong) {
  auto one = dist::read_world("", {});
  EXPECT_EQ(one.world_size, 1);
  EXPECT_FALSE(one.distributed());
  auto w = dist::read_world("", {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                                 {"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "29400"},
                                 {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
  EXPECT_EQ(w.rank, 3);
  EXPECT_EQ(w.world_size, 4);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_world_size, 2);
  EXPECT_EQ(w.master_addr, "10.0.0.5");
  EXPECT_EQ(w.master_port, 29400);
  EXPECT_TRUE(w.agent_store);
  EXPECT_EQ(w.restart_count, 2);
  auto f = dist::read_world("file:///tmp/x", {{"RANK", "0"}, {"WORLD_SIZE", "2"}});
  EXPECT_EQ(f.method, "file");
  EXPECT_EQ(f.file_path, "/tmp/x");
  auto fails = [](const std::string& init, std::vector<std::pair<std::string, std::string>> env, const std::string& what) {
    try {
      dist::read_world(init, env);
      ADD_FAILURE() << "accepted " << what;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  fails("", {{"RANK", "0"}}, "WORLD_SIZE is missing");
  fails("", {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}}, "RANK='2'");
  fails("", {{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK='x'");
  fails("", {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}, "MASTER_ADDR is missing");
  fails("", {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT='70000'");
  fails("tcp://h:1", {}, "--dist-init 'tcp://h:1'");
  fails("file:/tmp/x", {}, "RANK and WORLD_SIZE must be set");
}

TEST(DistBackend, NcclWhereItCanCarryTheGradientsGlooElseAndAClearErrorWhenAskedInVain) {
  // CPU runs and plain Gloo never use NCCL.
  EXPECT_EQ(dist::resolve_backend("auto", /*cuda=*/false, 2, 0), "gloo");
  EXPECT_EQ(dist::resolve_backend("gloo", /*cuda=*/true, 2, 2), "gloo");
  // auto: NCCL on CUDA only where built and every rank here has its own GPU.
  EXPECT_EQ(dist::resolve_backend("auto", true, 2, 2), dist::nccl_built() ? "nccl" : "gloo");
  EXPECT_EQ(dist::resolve_backend("auto", true, 2, 1), "gloo");
  auto msg = test::error_message([] { dist::resolve_backend("nccl", false, 2, 0); });
  EXPECT_NE(msg.find("option dist_backend nccl"), std::string::npos) << msg;
  EXPECT_NE(msg.find("CPU"), std::string::npos) << msg;
  msg = test::error_message([] { dist::resolve_backend("nccl", true, 2, 1); });
  EXPECT_NE(msg.find("option dist_backend nccl"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dist::nccl_built() ? "share 1 GPU" : "no NCCL"), std::string::npos) << msg;
  msg = test::error_message([] { dist::resolve_backend("mpi", true, 1, 1); });
  EXPECT_NE(msg.find("dist_backend 'mpi'"), std::string::npos) << msg;
  if (dist::nccl_built()) EXPECT_EQ(dist::resolve_backend("nccl", true, 2, 2), "nccl");
}

TEST_F(Dist, AWorldOfOneIsTheSingleProcessRunUnlessKeptAsAGroup) {
  // A group of one is dropped (the single-process run); kept (bench/dist_one_rank), its
  // buckets go through the collective and the metrics say so.
  auto config = [&] {
    return build_config("gan-mnist", {"data_dir=" + (tmp_ / "mnist").string(), "epochs=2", "batch_size=256",
                                      "progress=off", "device=cpu", "final_samples=0"});
  };
  for (const bool keep : {false, true}) {
    dist::WorldSpec spec;
    spec.method = "file";
    spec.file_path = (tmp_ / (keep ? "kept.store" : "dropped.store")).string();
    std::shared_ptr<dist::Group> group = dist::Group::create(spec, std::chrono::seconds(30));
    const fs::path dir = tmp_ / (keep ? "kept" : "dropped");
    prepare_output_dir(dir, false);
    {
      Trainer t(config(), dir);
      t.set_group(group, keep);
      EXPECT_EQ(t.world_size(), 1);
      t.start_new();
      EXPECT_EQ(t.train(), 0);
    }
    MetricsLog log(dir);
    log.load();
    ASSERT_EQ(log.rows().size(), 2u);
    if (keep) {
      EXPECT_EQ(log.column("world_size"), (std::vector<double>{1, 1}));
      for (double c : log.column("collective_seconds")) EXPECT_GT(c, 0.0);
      EXPECT_EQ(Checkpoint::read(dir / "checkpoints/last.pt").get_int("world_size"), 1);
    } else {
      for (double w : log.column("world_size")) EXPECT_TRUE(std::isnan(w)) << "a dropped group's run has no world_size";
    }
  }
}

TEST(DistNccl, OneRankCarriesCudaBucketsOnTheDeviceWithTheStopVote) {
  // What a one-GPU machine can check of the NCCL path: a group of one rank whose CUDA buckets
  // go through NCCL (set-up through the store, the collectives, the vote read back).
  if (!dist::nccl_built()) GTEST_SKIP() << "this build has no NCCL (needs a CUDA LibTorch and nccl.h)";
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  TempDir tmp;
  dist::WorldSpec spec;
  spec.method = "file";
  spec.file_path = (tmp / "rendezvous").string();
  auto group = dist::Group::create(spec, std::chrono::seconds(60), "nccl");
  const auto cuda = at::TensorOptions().device(at::kCUDA);
  at::Tensor a = at::randn({1000}, cuda), b = at::randn({3, 7}, cuda), c = at::arange(5, cuda.dtype(at::kLong));
  const at::Tensor a0 = a.clone(), b0 = b.clone(), c0 = c.clone();
  EXPECT_EQ(group->average({a, b}, 1), 1);
  EXPECT_TRUE(a.is_cuda());
  EXPECT_TRUE(at::equal(a, a0));
  EXPECT_TRUE(at::equal(b, b0));
  group->broadcast({a, c});
  group->sum({b, c});
  EXPECT_TRUE(at::equal(c, c0));
  EXPECT_TRUE(at::equal(b, b0));
  EXPECT_GT(group->collective_seconds(), 0.0);
  // The two ends of a group: leave() on a good end (NCCL shut down in step), and a group
  // destroyed without it (a failure: NCCL aborted). Neither may print LibTorch's warning that
  // the process group was not destroyed (issued once a process, by its destructor).
  testing::internal::CaptureStderr();
  group->leave();
  group.reset();
  spec.file_path = (tmp / "rendezvous2").string();
  group = dist::Group::create(spec, std::chrono::seconds(60), "nccl");
  at::Tensor d = at::ones({8}, cuda);
  EXPECT_EQ(group->average({d}, 0), 0);
  group.reset();
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("destroy_process_group"), std::string::npos) << err;
  EXPECT_EQ(err.find("has NOT been destroyed"), std::string::npos) << err;
}

TEST_F(Dist, TwoRanksOnHalfBatchesTrainAsOneRankOnTheWholeBatch) {
  // Dropout off: its masks are each rank's own; the data order and the noise are shared, so
  // the two runs differ only in the rounding of the sums.
  // With the generator's moving average (its schedule counts the global batches).
  auto one = test::run_forgery("train gan-mnist --data '" + (tmp_ / "mnist").string() +
                                   "' --out one --epochs 2 --device cpu --threads 1 --set batch_size=256 --set progress=off "
                                   "--set dropout=0 --set ema_kimg=0.5 --set ema_rampup=0.5",
                               tmp_.path());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto ranks = start_world(2, gan("two", 2, {"--set", "dropout=0", "--set", "ema_kimg=0.5", "--set", "ema_rampup=0.5"}), "store");
  for (auto& r : ranks) finish(r);
  for (auto& r : ranks) ASSERT_EQ(r.code, 0) << r.stderr_text();
  EXPECT_EQ(read_file(ranks[1].out), "");  // rank 1 writes nothing and prints nothing
  for (const char* net : {"generator", "discriminator", "generator_ema"}) {
    const double d = relative_difference(weights(tmp_ / "one", net), weights(tmp_ / "two", net));
    EXPECT_LT(d, 1e-5) << net;
    EXPECT_GT(d, 0) << net << ": identical to the last bit is unexpected (the sums are split differently)";
  }
  MetricsLog a(tmp_ / "one"), b(tmp_ / "two");
  a.load();
  b.load();
  for (const char* k : {"loss_g", "loss_d", "d_real", "d_fake"})
    for (size_t e = 0; e < 2; ++e) EXPECT_NEAR(a.column(k)[e], b.column(k)[e], 1e-5 * std::abs(a.column(k)[e])) << k;
  EXPECT_EQ(b.column("step"), (std::vector<double>{4, 8}));
  EXPECT_EQ(b.column("world_size"), (std::vector<double>{2, 2}));
  // Every rank's parameters, hashed in its own process, are bit-identical.
  Checkpoint ck = Checkpoint::read(tmp_ / "two/checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("world_size"), 2);
  auto states = ck.dict().at("ranks").toList();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states.get(0).toGenericDict().at("param_hash").toInt(), states.get(1).toGenericDict().at("param_hash").toInt());
  // The two ranks drew different dropout and augmentation streams.
  EXPECT_FALSE(torch::equal(states.get(0).toGenericDict().at("rng").toGenericDict().at("cpu").toTensor(),
                            states.get(1).toGenericDict().at("rng").toGenericDict().at("cpu").toTensor()));
}

TEST_F(Dist, AStopOnOneRankStopsBothAfterTheSameStepAndResumeIsExact) {
  // With dropout: each rank's own stream is in the checkpoint.
  auto straight = start_world(2, gan("straight", 6), "s1");
  for (auto& r : straight) finish(r);
  for (auto& r : straight) ASSERT_EQ(r.code, 0) << r.stderr_text();

  auto ranks = start_world(2, gan("stopped", 6), "s2");
  ASSERT_TRUE(wait_until([&] { return metric_rows(tmp_ / "stopped") >= 1; }, 120)) << ranks[0].stderr_text();
  ::kill(ranks[1].pid, SIGTERM);  // one rank only
  for (auto& r : ranks) finish(r);
  EXPECT_EQ(ranks[1].code, 128 + SIGTERM) << ranks[1].stderr_text();
  EXPECT_EQ(ranks[0].code, 128 + SIGTERM) << ranks[0].stderr_text();
  Checkpoint ck = Checkpoint::read(tmp_ / "stopped/checkpoints/last.pt");
  ASSERT_LT(ck.get_int("global_step"), 24) << "the stop came after the run ended";
  auto states = ck.dict().at("ranks").toList();
  EXPECT_EQ(states.get(0).toGenericDict().at("param_hash").toInt(), states.get(1).toGenericDict().at("param_hash").toInt());

  auto resumed = start_world(2, {"resume", (tmp_ / "stopped").string()}, "s3");
  for (auto& r : resumed) finish(r);
  for (auto& r : resumed) ASSERT_EQ(r.code, 0) << r.stderr_text();
  for (const char* net : {"generator", "discriminator"})
    EXPECT_TRUE(same(weights(tmp_ / "straight", net), weights(tmp_ / "stopped", net))) << net;
  MetricsLog a(tmp_ / "straight"), b(tmp_ / "stopped");
  a.load();
  b.load();
  EXPECT_EQ(a.column("loss_d"), b.column("loss_d"));

  // Another world size continues, with a warning.
  auto more = test::run_forgery("resume stopped --epochs 7 --threads 1", tmp_.path());
  EXPECT_EQ(more.exit_code, 0) << more.err;
  EXPECT_NE(more.err.find("written by 2 ranks"), std::string::npos) << more.err;
}

TEST_F(Dist, AKilledRankIsNamedByTheOtherWithinTheTimeoutAndTheCheckpointSurvives) {
  auto ranks = start_world(2, gan("run", 500, {"--set", "dist_timeout=5"}), "store");
  ASSERT_TRUE(wait_until([&] { return metric_rows(tmp_ / "run") >= 2; }, 120)) << ranks[0].stderr_text();
  const auto killed_at = Clock::now();
  ::kill(ranks[1].pid, SIGKILL);
  finish(ranks[1]);
  finish(ranks[0]);
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::string err = ranks[0].stderr_text();
  EXPECT_EQ(ranks[0].code, 1) << err;
  EXPECT_LT(seconds, 5 + 5) << err;
  EXPECT_NE(err.find("rank 1 stopped responding"), std::string::npos) << err;
  EXPECT_NE(err.find("rank 0: "), std::string::npos) << err;
  Checkpoint ck = Checkpoint::read(tmp_ / "run/checkpoints/last.pt");
  EXPECT_GE(ck.get_int("epoch"), 1);  // metrics.jsonl is written just before the checkpoint
  EXPECT_TRUE(fs::exists(tmp_ / "run/weights/generator.pt"));
}

TEST_F(Dist, AStalledRankZeroIsNamedAfterTheTimeout) {
  auto ranks = start_world(2, gan("run", 500, {"--set", "dist_timeout=4"}), "store");
  ASSERT_TRUE(wait_until([&] { return metric_rows(tmp_ / "run") >= 1; }, 120)) << ranks[0].stderr_text();
  const auto stalled_at = Clock::now();
  ::kill(ranks[0].pid, SIGSTOP);
  finish(ranks[1], 60);
  const double seconds = std::chrono::duration<double>(Clock::now() - stalled_at).count();
  ::kill(ranks[0].pid, SIGKILL);
  finish(ranks[0]);
  const std::string err = ranks[1].stderr_text();
  EXPECT_EQ(ranks[1].code, 1) << err;
  EXPECT_GE(seconds, 4 - 0.5) << err;
  EXPECT_LT(seconds, 4 + 5) << err;
  EXPECT_NE(err.find("rank 0 stopped responding"), std::string::npos) << err;
}

TEST_F(Dist, AFailureOnRankZeroIsReportedToTheOthers) {
  // Rank 0 cannot write its 35 MB checkpoint (a 20 MB file size limit: a full disk); rank 1
  // stops with rank 0's own message rather than a timeout.
  std::vector<std::string> a = gan("run", 3, {"--dist-init", "file:" + (tmp_ / "store").string()});
  Rank r0 = start_rank(tmp_.path(), "rank0", a, {{"RANK", "0"}, {"WORLD_SIZE", "2"}}, 20 << 20);
  Rank r1 = start_rank(tmp_.path(), "rank1", a, {{"RANK", "1"}, {"WORLD_SIZE", "2"}});
  finish(r0, 120);
  finish(r1, 120);
  EXPECT_EQ(r0.code, 1) << r0.stderr_text();
  EXPECT_NE(r0.stderr_text().find("last.pt"), std::string::npos) << r0.stderr_text();
  EXPECT_EQ(r1.code, 1) << r1.stderr_text();
  EXPECT_NE(r1.stderr_text().find("rank 0 stopped: rank 0: "), std::string::npos) << r1.stderr_text();
  EXPECT_NE(r1.stderr_text().find("last.pt"), std::string::npos) << r1.stderr_text();
  EXPECT_LT(r1.seconds - r0.seconds, 5) << "rank 1 waited for a timeout";
}

TEST_F(Dist, TheLauncherStartsTheRanksAndForwardsAStop) {
  auto r = test::run_forgery("train gan-mnist --data '" + (tmp_ / "mnist").string() +
                                 "' --out run --epochs 2 --nproc 2 --set batch_size=256 --set progress=off --set threads=1",
                             tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("data-parallel: 2 ranks"), std::string::npos) << r.out;
  Checkpoint ck = Checkpoint::read(tmp_ / "run/checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("world_size"), 2);
  EXPECT_EQ(ck.get_int("global_step"), 8);

  // SIGINT to the launcher reaches both ranks once: they stop and save; resume finishes.
  Rank launcher = start_rank(tmp_.path(), "launcher", gan("stopped", 500, {"--nproc", "2"}), {});
  ASSERT_TRUE(wait_until([&] { return metric_rows(tmp_ / "stopped") >= 1; }, 120)) << launcher.stderr_text();
  ::kill(launcher.pid, SIGINT);
  finish(launcher, 60);
  EXPECT_EQ(launcher.code, 128 + SIGINT) << launcher.stderr_text();
  EXPECT_NE(launcher.stderr_text().find("forgery resume"), std::string::npos) << launcher.stderr_text();
  auto resumed = test::run_forgery("resume stopped --epochs 3 --nproc 2", tmp_.path());
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;

  // A batch that does not split into equal shares is refused before anything starts.
  auto odd = test::run_forgery("train gan-mnist --data '" + (tmp_ / "mnist").string() +
                                   "' --out odd --nproc 3 --set batch_size=256",
                               tmp_.path());
  EXPECT_EQ(odd.exit_code, 2);
  EXPECT_NE(odd.err.find("does not split into 3 equal shares"), std::string::npos) << odd.err;
  EXPECT_FALSE(fs::exists(tmp_ / "odd"));
}

TEST_F(Dist, TheLauncherReportsAKilledWorkerAndTheOthersStop) {
  Rank launcher = start_rank(tmp_.path(), "launcher", gan("run", 500, {"--nproc", "2"}), {});
  ASSERT_TRUE(wait_until([&] { return metric_rows(tmp_ / "run") >= 1; }, 120)) << launcher.stderr_text();
  const pid_t victim = worker_of(launcher.pid, 1);
  ASSERT_GT(victim, 0);
  ::kill(victim, SIGKILL);
  finish(launcher, 60);
  const std::string err = launcher.stderr_text();
  EXPECT_EQ(launcher.code, 128 + SIGKILL) << err;
  EXPECT_NE(err.find("rank 1 (pid " + std::to_string(victim) + ") was killed by signal 9"), std::string::npos) << err;
  EXPECT_NE(err.find("rank 1 stopped responding"), std::string::npos) << err;  // rank 0's diagnosis
  EXPECT_LT(launcher.seconds, 120);
}

#if FORGERY_HAVE_DIST
TEST_F(Dist, RanksJoinTorchrunsAgentStoreUnderTheAttemptPrefix) {
  c10d::TCPStoreOptions o;
  o.port = 0;
  o.isServer = true;
  o.waitWorkers = false;
  o.timeout = std::chrono::seconds(30);
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  std::map<std::string, std::string> env = {{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(store->getPort())},
                                            {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "3"},
                                            {"WORLD_SIZE", "2"}, {"LOCAL_WORLD_SIZE", "2"}};
  std::vector<Rank> ranks;
  for (int r = 0; r < 2; ++r) {
    env["RANK"] = env["LOCAL_RANK"] = std::to_string(r);
    ranks.push_back(start_rank(tmp_.path(), "rank" + std::to_string(r), gan("run", 1), env));
  }
  for (auto& r : ranks) finish(r);
  for (auto& r : ranks) ASSERT_EQ(r.code, 0) << r.stderr_text();
  EXPECT_TRUE(store->check({"/worker/attempt_3/forgery/rank/0", "/worker/attempt_3/forgery/rank/1"}));
  EXPECT_FALSE(store->check({"forgery/rank/0"}));
}

TEST_F(Dist, BadRendezvousesAreNamed) {
  // MASTER_PORT taken by another program.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  std::map<std::string, std::string> env = {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", port}};
  Rank busy = start_rank(tmp_.path(), "busy", gan("busy", 1, {"--set", "dist_timeout=3"}), env);
  finish(busy, 60);
  EXPECT_EQ(busy.code, 1);
  EXPECT_NE(busy.stderr_text().find("MASTER_PORT " + port + " on 127.0.0.1 is in use"), std::string::npos) << busy.stderr_text();
  // A rank > 0 whose MASTER_PORT is that program's: connected, never answered; named after the
  // timeout (and 5 s), not a wait for ever.
  env["RANK"] = "1";
  Rank unanswered = start_rank(tmp_.path(), "unanswered", gan("unanswered", 1, {"--set", "dist_timeout=2"}), env);
  finish(unanswered, 60);
  EXPECT_EQ(unanswered.code, 1);
  EXPECT_NE(unanswered.stderr_text().find("127.0.0.1:" + port + " does not answer within dist_timeout (2 s)"),
            std::string::npos) << unanswered.stderr_text();
  EXPECT_LT(unanswered.seconds, 2 + 5 + 5);
  ::close(fd);  // now a port nobody serves: rank 1 cannot reach rank 0
  Rank lonely = start_rank(tmp_.path(), "lonely", gan("lonely", 1, {"--set", "dist_timeout=2"}), env);
  finish(lonely, 60);
  EXPECT_EQ(lonely.code, 1);
  EXPECT_NE(lonely.stderr_text().find("could not reach the rendezvous store at 127.0.0.1:" + port), std::string::npos)
      << lonely.stderr_text();
  EXPECT_LT(lonely.seconds, 2 + 10);

  // Ranks started with different world sizes.
  std::vector<Rank> ranks;
  for (auto [rank, world] : {std::pair<int, int>{0, 2}, {1, 3}}) {
    std::map<std::string, std::string> e = {{"RANK", std::to_string(rank)}, {"WORLD_SIZE", std::to_string(world)}};
    ranks.push_back(start_rank(tmp_.path(), "mismatch" + std::to_string(rank),
                               gan("mismatch", 1, {"--set", "dist_timeout=3", "--dist-init", "file:" + (tmp_ / "mm").string()}), e));
  }
  for (auto& r : ranks) finish(r, 60);
  EXPECT_EQ(ranks[0].code, 1);
  EXPECT_NE(ranks[0].stderr_text().find("world sizes differ: this rank has WORLD_SIZE 2; rank 1 was started with WORLD_SIZE 3"),
            std::string::npos) << ranks[0].stderr_text();
  EXPECT_EQ(ranks[1].code, 1);

  // Ranks started with different options (networks of other shapes would mismatch in the first
  // broadcast, where Gloo aborts the process): both named, both exit 2, no run folder left.
  std::vector<Rank> unlike;
  for (int rank : {0, 1}) {
    std::map<std::string, std::string> e = {{"RANK", std::to_string(rank)}, {"WORLD_SIZE", "2"}};
    unlike.push_back(start_rank(tmp_.path(), "unlike" + std::to_string(rank),
                                gan("unlike", 1, {"--set", "dist_timeout=5", "--set", rank == 0 ? "width=16" : "width=32",
                                                  "--dist-init", "file:" + (tmp_ / "unlike-rdzv").string()}),
                                e));
  }
  for (auto& r : unlike) finish(r, 60);
  for (auto& r : unlike) {
    EXPECT_EQ(r.code, 2) << r.stderr_text();
    EXPECT_NE(r.stderr_text().find("rank 1 was started with other options than rank 0: width = 32 (rank 0: 16)"),
              std::string::npos) << r.stderr_text();
  }
  EXPECT_FALSE(fs::exists(tmp_ / "unlike"));

  // A rendezvous file left from an earlier launch.
  auto again = start_world(1 + 1, gan("again", 1, {"--set", "dist_timeout=3"}), "mm");
  for (auto& r : again) finish(r, 60);
  EXPECT_NE(again[0].code, 0);
  EXPECT_NE(again[0].stderr_text().find("left from an earlier launch"), std::string::npos) << again[0].stderr_text();
}
#endif

TEST_F(Dist, CycleGanOnTwoRanksCompletesAndResumesExactlyWithEachRanksPools) {
  test::write_domains(tmp_ / "h2z", 4, 3, 2);
  auto args = [&](const std::string& out, int epochs) {
    return std::vector<std::string>{"train", "cyclegan-horse2zebra-128", "--data", (tmp_ / "h2z").string(), "--out", out,
                                    "--epochs", std::to_string(epochs), "--device", "cpu", "--threads", "1",
                                    "--set", "batch_size=2",
                                    "--set", "ngf=2", "--set", "ndf=2", "--set", "load_size=36", "--set", "crop_size=32",
                                    "--set", "pool_size=2", "--set", "n_epochs=2", "--set", "n_epochs_decay=2",
                                    "--set", "visual_count=1", "--set", "progress=off"};
  };
  auto straight = start_world(2, args("straight", 4), "a");
  for (auto& r : straight) finish(r);
  for (auto& r : straight) ASSERT_EQ(r.code, 0) << r.stderr_text();
  auto first = start_world(2, args("resumed", 2), "b");
  for (auto& r : first) finish(r);
  for (auto& r : first) ASSERT_EQ(r.code, 0) << r.stderr_text();
  auto rest = start_world(2, {"resume", (tmp_ / "resumed").string(), "--epochs", "4"}, "c");
  for (auto& r : rest) finish(r);
  for (auto& r : rest) ASSERT_EQ(r.code, 0) << r.stderr_text();
  for (const char* net : {"G_A", "G_B", "D_A", "D_B"})
    EXPECT_TRUE(same(weights(tmp_ / "straight", net), weights(tmp_ / "resumed", net))) << net;
  Checkpoint ck = Checkpoint::read(tmp_ / "straight/checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("global_step"), 8);  // 4 examples a domain, 2 a step, 4 epochs
  auto states = ck.dict().at("ranks").toList();
  // Each rank keeps a pool of its own fakes.
  EXPECT_FALSE(torch::equal(states.get(0).toGenericDict().at("recipe_state").toGenericDict().at("pool_A").toTensor(),
                            states.get(1).toGenericDict().at("recipe_state").toGenericDict().at("pool_A").toTensor()));
}

}  // namespace
}  // namespace forgery
