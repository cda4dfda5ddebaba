#pragma once
// Data-parallel training on PyTorch's distributed engine (c10d): one process per rank, a
// process group over Gloo (CPU tensors; CUDA tensors pass through host memory), rendezvous
// through the torchrun environment contract (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT, and torchrun's agent store) or a shared file (--dist-init file:PATH).
//
// Every collective waits at most the group's timeout; a failure is diagnosed through the
// store's heartbeats, so that the error names the rank that stopped (exited, was killed or
// stalled) rather than a socket.
#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace forgery::dist {

// Whether this build has c10d and Gloo (libgloo-dev's headers at configure time).
bool available();

// Where this process stands in the world, as the environment (or --dist-init) says.
struct WorldSpec {
  int rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  // "env": TCP store at master_addr:master_port (rank 0 serves it, unless torchrun's agent
  // serves it: agent_store); "file": a FileStore at file_path.
  std::string method = "env";
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;
  int restart_count = 0;
  std::string file_path;
  bool distributed() const { return world_size > 1; }
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_USE_AGENT_STORE and TORCHELASTIC_RESTART_COUNT. `init` is "" or "env"
// (environment only) or "file:PATH" (rank and world size still from the environment). No
// RANK and WORLD_SIZE: a world of one. Errors (UsageError) name the variable and the value.
WorldSpec read_world(const std::string& init);
// The same from an explicit environment (tests).
WorldSpec read_world(const std::string& init, const std::vector<std::pair<std::string, std::string>>& env);

// What carries the collectives of CUDA tensors, from the option dist_backend ("auto", "gloo",
// "nccl"), whether the run's device is CUDA, and how many ranks share this machine's `gpus`:
// "nccl" (NCCL, device to device; one GPU per rank) or "gloo" (through host memory; CPU
// tensors always go over Gloo). "auto" is NCCL on CUDA where this build has it and every rank
// here has a GPU of its own. UsageError or Error naming the option when "nccl" cannot be had.
std::string resolve_backend(const std::string& option, bool cuda, int local_ranks, int gpus);

class Group {
 public:
  // Rendezvous and process group. Fails (forgery::Error) within about `timeout` when a peer
  // never arrives, naming the address or file and the world size expected. `backend`, from
  // resolve_backend: "nccl" adds a NCCL communicator for the collectives of CUDA tensors.
  static std::unique_ptr<Group> create(const WorldSpec& spec, std::chrono::milliseconds timeout,
                                       const std::string& backend = "gloo");
  virtual ~Group() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual int local_rank() const = 0;

  // Rank 0's values into every rank's tensors (one flattened bucket per dtype).
  virtual void broadcast(const std::vector<at::Tensor>& tensors) = 0;
  // Every rank's tensors replaced by the mean over ranks (in one flattened bucket: Gloo has
  // no average, so sum and divide). `vote` is added across ranks in the same collective and
  // the sum returned (the stop flag rides along with the gradients: no extra round trip).
  virtual int64_t average(const std::vector<at::Tensor>& tensors, int64_t vote) = 0;
  // Sums in place over ranks.
  virtual void sum(const std::vector<at::Tensor>& tensors) = 0;
  // Every rank's bytes, by rank.
  virtual std::vector<std::vector<char>> all_gather(const std::vector<char>& bytes) = 0;
  virtual void barrier() = 0;
  // The run's last collective on a good end, every rank alike: a barrier, then NCCL's
  // communicator (dist_backend nccl) shut down in step. A group destroyed without it (a failure,
  // a peer gone) aborts NCCL instead, which does not wait for the peers.
  virtual void leave() = 0;
  // Seconds this rank has spent in collectives (waiting for the others included).
  virtual double collective_seconds() const = 0;

  // Rank 0 runs work the others do not (evaluation, artifacts, checkpoint files): the others
  // wait for its mark without a collective's timeout while rank 0's heartbeat goes on, and
  // fail naming rank 0 when it stops beating or reports a failure.
  virtual void mark(const std::string& key) = 0;
  virtual void wait_for_mark(const std::string& key) = 0;
  // Rank 0 tells the others why it stops (they fail with this message instead of a timeout).
  virtual void report_failure(const std::string& message) = 0;
};

}  // namespace forgery::dist
