#include "forgery/dist/dist.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "forgery/core/error.h"
#include "forgery/dist/nccl.h"
#include "forgery/features.h"

#if FORGERY_HAVE_DIST
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // LibTorch was built with it (configure checked); its header asks for the macro
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace forgery::dist {

bool available() { return FORGERY_HAVE_DIST != 0; }

#if !FORGERY_HAVE_NCCL
bool nccl_built() { return false; }

std::unique_ptr<DeviceComm> make_nccl_comm(const c10::intrusive_ptr<c10d::Store>&, int, int, std::chrono::milliseconds) {
  throw Error("this build of Forgery has no NCCL");
}
#endif

std::string resolve_backend(const std::string& option, bool cuda, int local_ranks, int gpus) {
  if (option == "gloo") return "gloo";
  const bool own_gpus = local_ranks <= gpus;
  if (option == "auto") return cuda && nccl_built() && own_gpus ? "nccl" : "gloo";
  if (option != "nccl") throw UsageError("option dist_backend '" + option + "': expected auto, gloo or nccl");
  if (!cuda) throw UsageError("option dist_backend nccl: NCCL carries CUDA tensors, and this run's device is the CPU");
  if (!nccl_built())
    throw Error("option dist_backend nccl: this build of Forgery has no NCCL (configure found no nccl.h or no CUDA "
                "LibTorch; scripts/gpu-build looks in the nvidia-nccl wheel); use dist_backend gloo");
  if (!own_gpus)
    throw UsageError("option dist_backend nccl: NCCL needs a GPU per rank, and " + std::to_string(local_ranks) +
                     " ranks on this machine share " + std::to_string(gpus) + " GPU(s); use dist_backend gloo");
  return "nccl";
}

namespace {

int parse_int(const std::string& name, const std::string& value, int min, int max) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno != 0 || v < min || v > max)
    throw UsageError("environment variable " + name + "='" + value + "': expected a whole number from " +
                     std::to_string(min) + " to " + std::to_string(max));
  return static_cast<int>(v);
}

}  // namespace

WorldSpec read_world(const std::string& init, const std::vector<std::pair<std::string, std::string>>& env) {
  std::map<std::string, std::string> e(env.begin(), env.end());
  auto get = [&](const char* k) -> const std::string* {
    auto it = e.find(k);
    return it == e.end() ? nullptr : &it->second;
  };
  WorldSpec s;
  if (!init.empty() && init != "env") {
    if (init.rfind("file:", 0) != 0 || init.size() <= 5)
      throw UsageError("--dist-init '" + init + "': expected env (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or file:PATH");
    s.method = "file";
    s.file_path = init.substr(5);
    if (s.file_path.rfind("//", 0) == 0) s.file_path = s.file_path.substr(2);  // file:///abs -> /abs
  }
  const std::string *rank = get("RANK"), *world = get("WORLD_SIZE");
  if (!rank && !world) {
    if (s.method == "file") throw UsageError("--dist-init " + init + ": RANK and WORLD_SIZE must be set in the environment");
    return s;
  }
  if (!rank || !world)
    throw UsageError(std::string("environment variable ") + (rank ? "WORLD_SIZE" : "RANK") + " is missing (" +
                     (rank ? "RANK" : "WORLD_SIZE") + " is set): data-parallel training needs both");
  s.world_size = parse_int("WORLD_SIZE", *world, 1, 1 << 16);
  s.rank = parse_int("RANK", *rank, 0, s.world_size - 1);
  if (const auto* v = get("LOCAL_RANK")) s.local_rank = parse_int("LOCAL_RANK", *v, 0, s.world_size - 1);
  else s.local_rank = s.rank;
  if (const auto* v = get("LOCAL_WORLD_SIZE")) s.local_world_size = parse_int("LOCAL_WORLD_SIZE", *v, 1, s.world_size);
  else s.local_world_size = s.world_size;
  if (s.method == "env" && s.world_size > 1) {
    const std::string *addr = get("MASTER_ADDR"), *port = get("MASTER_PORT");
    if (!addr || addr->empty()) throw UsageError("environment variable MASTER_ADDR is missing: the address of rank 0's machine");
    if (!port) throw UsageError("environment variable MASTER_PORT is missing: a free TCP port on rank 0's machine");
    s.master_addr = *addr;
    s.master_port = parse_int("MASTER_PORT", *port, 1, 65535);
    if (const auto* v = get("TORCHELASTIC_USE_AGENT_STORE")) s.agent_store = (*v == "True" || *v == "true" || *v == "1");
    if (const auto* v = get("TORCHELASTIC_RESTART_COUNT")) s.restart_count = parse_int("TORCHELASTIC_RESTART_COUNT", *v, 0, 1 << 30);
  }
  return s;
}

WorldSpec read_world(const std::string& init) {
  std::vector<std::pair<std::string, std::string>> env;
  for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                        "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"})
    if (const char* v = std::getenv(k)) env.emplace_back(k, v);
  return read_world(init, env);
}

#if FORGERY_HAVE_DIST

namespace {

using Store = c10d::Store;
using StorePtr = c10::intrusive_ptr<Store>;

std::string first_line(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

std::string where(const WorldSpec& s) {
  return s.method == "file" ? "the rendezvous file " + s.file_path
                            : "the rendezvous store at " + s.master_addr + ":" + std::to_string(s.master_port);
}

std::string beat_key(int rank) { return "forgery/beat/" + std::to_string(rank); }

// Ends the process with `message` (exit status 1) unless it is destroyed within `limit`: for
// calls into LibTorch that can block without a timeout of their own.
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds limit, std::string message)
      : thread_([this, limit, message = std::move(message)] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "forgery: error: %s\n", message.c_str());
            std::fflush(stderr);
            std::_Exit(1);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Keys of the world's ranks: their world size as they see it, their heartbeat, a failure.
class GlooGroup : public Group {
 public:
  GlooGroup(const WorldSpec& spec, std::chrono::milliseconds timeout, const std::string& backend)
      : spec_(spec), timeout_(timeout) {
    int64_t joined = 0;
    {
      // A program on MASTER_PORT that is not a store can take the connection and never answer:
      // LibTorch's store client would wait for ever. Past the timeout (and 5 s) the process ends
      // with the error, as a peer that never starts would.
      Watchdog dog(timeout_ + std::chrono::seconds(5),
                   "rank " + std::to_string(spec.rank) + ": " + where(spec_) + " does not answer within dist_timeout (" +
                       std::to_string(timeout_.count() / 1000) + " s): is rank 0 running, and is MASTER_PORT its store's rather than another program's?");
      store_ = make_store(/*server=*/spec.rank == 0 && !spec.agent_store && spec.method == "env");
      try {
        joined = store_->add("forgery/rank/" + std::to_string(spec.rank), 1);
        store_->set("forgery/world/" + std::to_string(spec.rank), bytes(std::to_string(spec.world_size)));
      } catch (const std::exception& e) {
        throw Error(where(spec_) + " does not answer: " + first_line(e.what()));
      }
    }
    if (joined > 1)
      throw Error("rank " + std::to_string(spec.rank) + " has already joined " + where(spec_) +
                  (spec.method == "file" ? ": the file is left from an earlier launch (use a new file for every launch) "
                                           "or two processes have RANK=" + std::to_string(spec.rank)
                                         : ": two processes have RANK=" + std::to_string(spec.rank)));
    heartbeat_ = std::thread([this] { beat(); });
    try {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout_);
      opts->devices.push_back(make_device());
      opts->threads = 2;
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, spec.rank, spec.world_size, opts);
      // A group can form between ranks that disagree on the world's size (rank 0 of 2 and rank
      // 1 of 3 connect; rank 1 then waits for a rank 2): every rank wrote its size before it
      // connected, so each member's is in the store now.
      if (const std::string differ = world_sizes_that_differ(nullptr); !differ.empty())
        throw Error("the process group of " + std::to_string(spec.world_size) + " ranks at " + where(spec_) + ":" +
                    differ);
      // NCCL's communicator is set up at its first collective (through the same store).
      if (backend == "nccl") nccl_ = make_nccl_comm(store_, spec.rank, spec.world_size, timeout_);
    } catch (const Error&) {
      stop_heartbeat();
      throw;
    } catch (const std::exception& e) {
      stop_heartbeat();
      throw Error(diagnose_start(e.what()));
    }
  }

  ~GlooGroup() override { stop_heartbeat(); }

  int rank() const override { return spec_.rank; }
  int size() const override { return spec_.world_size; }
  int local_rank() const override { return spec_.local_rank; }

  void broadcast(const std::vector<at::Tensor>& tensors) override {
    per_dtype_bucket(tensors, "broadcast", /*sum=*/false);
  }

  int64_t average(const std::vector<at::Tensor>& tensors, int64_t vote) override {
    std::vector<at::Tensor> group;
    for (const auto& t : tensors)
      if (t.defined() && t.numel() > 0) group.push_back(t);
    // The vote as one more float (exact for small integers), so one collective carries both.
    const bool device = on_device(group);
    at::Tensor flat = flatten(group, 1, device);
    flat[flat.numel() - 1].fill_(static_cast<double>(vote));
    all_reduce(flat, device, "gradient all-reduce");
    const int64_t votes = static_cast<int64_t>(flat[flat.numel() - 1].item<double>() + 0.5);
    flat.narrow(0, 0, flat.numel() - 1).div_(static_cast<double>(spec_.world_size));
    unflatten(flat, group);
    return votes;
  }

  void sum(const std::vector<at::Tensor>& tensors) override { per_dtype_bucket(tensors, "sum", /*sum=*/true); }

  std::vector<std::vector<char>> all_gather(const std::vector<char>& data) override {
    const int w = spec_.world_size;
    at::Tensor n = at::full({1}, static_cast<int64_t>(data.size()), at::kLong);
    std::vector<at::Tensor> in{n};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < w; ++r) out[0].push_back(at::empty({1}, at::kLong));
    run("all-gather", [&] { return pg_->allgather(out, in); });
    int64_t longest = 0;
    std::vector<int64_t> sizes;
    for (const auto& t : out[0]) {
      sizes.push_back(t.item<int64_t>());
      longest = std::max(longest, sizes.back());
    }
    at::Tensor mine = at::zeros({std::max<int64_t>(longest, 1)}, at::kByte);
    if (!data.empty()) std::memcpy(mine.data_ptr<uint8_t>(), data.data(), data.size());
    std::vector<at::Tensor> in2{mine};
    std::vector<std::vector<at::Tensor>> out2(1);
    for (int r = 0; r < w; ++r) out2[0].push_back(at::empty({mine.numel()}, at::kByte));
    run("all-gather", [&] { return pg_->allgather(out2, in2); });
    std::vector<std::vector<char>> result;
    for (int r = 0; r < w; ++r) {
      const char* p = reinterpret_cast<const char*>(out2[0][r].data_ptr<uint8_t>());
      result.emplace_back(p, p + sizes[r]);
    }
    return result;
  }

  void barrier() override {
    // A one-element all-reduce: Gloo's barrier in LibTorch 1.13 has no timeout of its own.
    std::vector<at::Tensor> v{at::zeros({1})};
    run("barrier", [&] { return pg_->allreduce(v); });
  }

  void leave() override {
    barrier();
    if (nccl_) nccl_->shutdown();
  }

  void mark(const std::string& key) override {
    try {
      store_->set("forgery/mark/" + key, bytes("1"));
    } catch (const std::exception& e) {
      throw Error("rank 0 could not reach " + where(spec_) + ": " + first_line(e.what()));
    }
  }

  void wait_for_mark(const std::string& key) override {
    const std::string k = "forgery/mark/" + key;
    int64_t last_beat = -1;
    auto last_change = std::chrono::steady_clock::now();
    for (;;) {
      try {
        if (store_->check({k})) return;
        if (store_->check({"forgery/failed"}))
          throw Error("rank 0 stopped: " + text(store_->get("forgery/failed")));
        const int64_t b = store_->add(beat_key(0), 0);
        if (b != last_beat) {
          last_beat = b;
          last_change = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - last_change > timeout_) {
          throw Error("rank 0 stopped responding (exited, killed or stalled) while writing the epoch's artifacts; "
                      "no heartbeat for " + std::to_string(timeout_.count() / 1000) + " s (dist_timeout)");
        }
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        throw Error("rank 0 has stopped: " + where(spec_) + " is gone (" + first_line(e.what()) + ")");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void report_failure(const std::string& message) override {
    try {
      store_->set("forgery/failed", bytes("rank " + std::to_string(spec_.rank) + ": " + message));
    } catch (...) {
    }
  }

 private:
  static std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
  static std::string text(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

  StorePtr make_store(bool server) {
    StorePtr store;
    try {
      if (spec_.method == "file") {
        // No automatic removal (numWorkers -1): rank 0 removes the file after the run.
        store = c10::make_intrusive<c10d::FileStore>(spec_.file_path, -1);
      } else {
        c10d::TCPStoreOptions o;
        o.port = static_cast<uint16_t>(spec_.master_port);
        o.isServer = server;
        o.waitWorkers = false;
        o.timeout = timeout_;
        store = c10::make_intrusive<c10d::TCPStore>(spec_.master_addr, o);
        if (spec_.agent_store)
          store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(spec_.restart_count), store);
      }
      store->setTimeout(timeout_);
    } catch (const std::exception& e) {
      const std::string msg = first_line(e.what());
      if (server && (msg.find("in use") != std::string::npos || msg.find("EADDRINUSE") != std::string::npos))
        throw Error("MASTER_PORT " + std::to_string(spec_.master_port) + " on " + spec_.master_addr +
                    " is in use: choose a free port (" + msg + ")");
      if (server)
        throw Error("rank 0 could not serve " + where(spec_) + ": " + msg);
      if (spec_.method == "file") throw Error("could not open " + where(spec_) + ": " + msg);
      throw Error("rank " + std::to_string(spec_.rank) + " could not reach " + where(spec_) + " within " +
                  std::to_string(timeout_.count() / 1000) + " s (dist_timeout): is rank 0 running, and are " +
                  "MASTER_ADDR and MASTER_PORT right? (" + msg + ")");
    }
    return store;
  }

  std::shared_ptr<::gloo::transport::Device> make_device() {
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    const std::string& a = spec_.master_addr;
    const bool loopback = a == "127.0.0.1" || a == "localhost" || a == "::1";
    if (spec_.local_world_size == spec_.world_size && (spec_.method == "file" || loopback))
      return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
  }

  void beat() {
    while (!stop_.load()) {
      try {
        store_->add(beat_key(spec_.rank), 1);
      } catch (...) {
        // The store's host is gone; collectives will say so.
      }
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_.load(); });
    }
  }

  void stop_heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
    }
    cv_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  // The ranks whose heartbeat does not move for a while (exited, killed or stalled).
  std::string silent_ranks() {
    std::vector<int64_t> before(spec_.world_size), after(spec_.world_size);
    for (int r = 0; r < spec_.world_size; ++r) before[r] = store_->add(beat_key(r), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::string out;
    int n = 0;
    for (int r = 0; r < spec_.world_size; ++r) {
      if (r == spec_.rank) continue;
      after[r] = store_->add(beat_key(r), 0);
      if (after[r] == before[r]) {
        out += (out.empty() ? "" : ", ") + std::to_string(r);
        ++n;
      }
    }
    if (n == 0) return "";
    return (n == 1 ? "rank " : "ranks ") + out;
  }

  std::string diagnose(const std::string& op, const std::string& detail) {
    const std::string me = std::string(op) + " failed: ";
    try {
      if (store_->check({"forgery/failed"})) return me + "the run stopped on " + text(store_->get("forgery/failed"));
      std::string silent = silent_ranks();
      if (!silent.empty())
        return me + silent + " stopped responding (exited, killed or stalled; dist_timeout " +
               std::to_string(timeout_.count() / 1000) + " s) [" + first_line(detail) + "]";
    } catch (const std::exception&) {
      if (spec_.method == "env" && !spec_.agent_store)
        return me + "rank 0 has stopped (" + where(spec_) + ", which rank 0 serves, is gone) [" + first_line(detail) + "]";
      return me + where(spec_) + " is gone [" + first_line(detail) + "]";
    }
    return me + first_line(detail);
  }

  // " world sizes differ: this rank has WORLD_SIZE n; rank r was started with WORLD_SIZE m;"
  // for the ranks of this world whose size in the store differs (empty if none). Ranks not in
  // the store yet are listed in *missing; without `missing` they are waited for.
  std::string world_sizes_that_differ(std::string* missing) {
    std::string differ;
    for (int r = 0; r < spec_.world_size; ++r) {
      const std::string k = "forgery/world/" + std::to_string(r);
      if (missing && !store_->check({k})) {
        *missing += (missing->empty() ? "" : ", ") + std::to_string(r);
        continue;
      }
      const std::string w = text(store_->get(k));
      if (w != std::to_string(spec_.world_size))
        differ += " rank " + std::to_string(r) + " was started with WORLD_SIZE " + w + ";";
    }
    if (missing)  // a rank of a larger world that joined this one
      for (int r = spec_.world_size; r < spec_.world_size + 64; ++r)
        if (store_->check({"forgery/world/" + std::to_string(r)}))
          differ += " rank " + std::to_string(r) + " joined (WORLD_SIZE " +
                    text(store_->get("forgery/world/" + std::to_string(r))) + ");";
    if (differ.empty()) return differ;
    return " world sizes differ: this rank has WORLD_SIZE " + std::to_string(spec_.world_size) + ";" + differ;
  }

  std::string diagnose_start(const std::string& detail) {
    std::string missing, differ;
    try {
      differ = world_sizes_that_differ(&missing);
    } catch (const std::exception&) {
      return "the process group of " + std::to_string(spec_.world_size) + " ranks was not formed: " + where(spec_) +
             " is gone [" + first_line(detail) + "]";
    }
    std::string msg = "the process group of " + std::to_string(spec_.world_size) + " ranks was not formed within " +
                      std::to_string(timeout_.count() / 1000) + " s (dist_timeout) at " + where(spec_) + ":" + differ;
    if (!missing.empty()) msg += " rank(s) " + missing + " never joined;";
    return msg + " [" + first_line(detail) + "]";
  }

  double collective_seconds() const override { return seconds_; }

  // `body` timed as collective time; a failure is diagnosed (which rank stopped).
  template <class F>
  void timed(const std::string& op, F&& body) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      body();
      seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(diagnose(op, e.what()));
    }
  }

  template <class F>
  void run(const char* op, F&& start) {
    timed(op, [&] { start()->wait(); });
  }

  // CUDA tensors with a NCCL communicator: device to device; the rest over Gloo.
  bool on_device(const std::vector<at::Tensor>& ts) const { return nccl_ && !ts.empty() && ts.front().is_cuda(); }

  void all_reduce(at::Tensor& flat, bool device, const std::string& op) {
    if (device) return timed(op + " (NCCL)", [&] { nccl_->allreduce_sum(flat); });
    std::vector<at::Tensor> v{flat};
    timed(op, [&] { pg_->allreduce(v)->wait(); });
  }

  // A sum or rank 0's broadcast on one flattened bucket per dtype of `tensors`, the results
  // copied back.
  void per_dtype_bucket(const std::vector<at::Tensor>& tensors, const char* op, bool sum) {
    std::map<at::ScalarType, std::vector<at::Tensor>> by_type;
    for (const auto& t : tensors)
      if (t.defined() && t.numel() > 0) by_type[t.scalar_type()].push_back(t);
    for (auto& [_, group] : by_type) {
      const bool device = on_device(group);
      at::Tensor flat = flatten(group, 0, device);
      if (sum) {
        all_reduce(flat, device, op);
      } else if (device) {
        timed(std::string(op) + " (NCCL)", [&] { nccl_->broadcast(flat); });
      } else {
        std::vector<at::Tensor> v{flat};
        timed(op, [&] { pg_->broadcast(v)->wait(); });
      }
      unflatten(flat, group);
    }
  }

  // One contiguous buffer holding every tensor (plus `extra` elements at the end): in host
  // memory for Gloo, or on the tensors' device (`keep_device`, for NCCL).
  static at::Tensor flatten(const std::vector<at::Tensor>& ts, int64_t extra = 0, bool keep_device = false) {
    torch::NoGradGuard no_grad;
    std::vector<at::Tensor> parts;
    parts.reserve(ts.size() + 1);
    for (const auto& t : ts) parts.push_back(t.reshape({-1}));
    at::ScalarType type = ts.empty() ? at::kFloat : ts.front().scalar_type();
    if (extra > 0) parts.push_back(at::zeros({extra}, at::TensorOptions().dtype(type).device(parts.empty() ? at::kCPU : parts.front().device())));
    at::Tensor flat = parts.size() == 1 ? parts.front().clone() : at::cat(parts);
    return flat.device().is_cpu() || keep_device ? flat.contiguous() : flat.cpu();
  }

  static void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& ts) {
    torch::NoGradGuard no_grad;
    int64_t off = 0;
    for (const auto& t : ts) {
      const int64_t n = t.numel();
      t.copy_(flat.narrow(0, off, n).view(t.sizes()));
      off += n;
    }
  }

  WorldSpec spec_;
  std::chrono::milliseconds timeout_;
  StorePtr store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  std::unique_ptr<DeviceComm> nccl_;  // dist_backend nccl: the collectives of CUDA tensors
  std::thread heartbeat_;
  double seconds_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace

std::unique_ptr<Group> Group::create(const WorldSpec& spec, std::chrono::milliseconds timeout,
                                     const std::string& backend) {
  return std::make_unique<GlooGroup>(spec, timeout, backend);
}

#else

std::unique_ptr<Group> Group::create(const WorldSpec& spec, std::chrono::milliseconds, const std::string&) {
  throw Error("this build of Forgery has no data-parallel training (world size " + std::to_string(spec.world_size) +
              " asked): it needs LibTorch's c10d headers and Gloo's (Debian: libgloo-dev; scripts/setup installs "
              "it); rebuild after installing them");
}

#endif

}  // namespace forgery::dist
