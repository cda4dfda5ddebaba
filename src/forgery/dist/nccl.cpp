// Compiled only where configure found NCCL and a CUDA LibTorch (it compiles this file to
// decide; see CMakeLists.txt). LibTorch was built with USE_C10D_NCCL there; its header asks for
// the macro.
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include "forgery/dist/nccl.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/version.h>

#include <cstdlib>
#include <type_traits>
#include <utility>
#include <vector>

#include "forgery/core/error.h"

namespace forgery::dist {

bool nccl_built() { return true; }

namespace {

// A collective that waits in the host, with the timeout, instead of NCCL's watchdog tearing the
// process down: the Gloo group then names the rank that stopped. Set before the process group
// reads them, unless the user chose otherwise.
void prefer_blocking_wait() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
  ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
  ::setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "0", 0);
#else
  ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
  ::setenv("NCCL_ASYNC_ERROR_HANDLING", "0", 0);
#endif
}

// LibTorch 2.x ends a NCCL process group with shutdown() (graceful: flushes, then destroys the
// communicators, in step with the peers) or abort() (local, never waits). A group destroyed
// with neither prints "destroy_process_group() was not called" and aborts. Older LibTorch lacks
// one or both; these find what this one has.
template <typename T, typename = void>
struct HasShutdown : std::false_type {};
template <typename T>
struct HasShutdown<T, std::void_t<decltype(std::declval<T&>().shutdown())>> : std::true_type {};
template <typename T, typename = void>
struct HasAbort : std::false_type {};
template <typename T>
struct HasAbort<T, std::void_t<decltype(std::declval<T&>().abort())>> : std::true_type {};

// Inside a template, so that a LibTorch without the call compiles the branch away.
template <typename PG>
void end_group(PG& pg, bool graceful) {
  if constexpr (HasShutdown<PG>::value) {
    if (graceful) {
      pg.shutdown();
      return;
    }
  }
  if constexpr (HasAbort<PG>::value) {
    if (!graceful) pg.abort();
  }
}

class NcclComm : public DeviceComm {
 public:
  NcclComm(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, std::chrono::milliseconds timeout) {
    prefer_blocking_wait();
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    try {
      pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("forgery/nccl", store),
                                                        rank, size, opts);
    } catch (const std::exception& e) {
      throw Error(std::string("NCCL could not start: ") + e.what());
    }
  }

  void allreduce_sum(at::Tensor& flat) override {
    std::vector<at::Tensor> v{flat};
    pg_->allreduce(v)->wait();
  }

  void broadcast(at::Tensor& flat) override {
    std::vector<at::Tensor> v{flat};
    pg_->broadcast(v)->wait();
  }

  void shutdown() override {
    if (ended_) return;
    end_group(*pg_, /*graceful=*/true);
    ended_ = true;  // (a shutdown that threw is aborted by the destructor)
  }

  // Without shutdown() (a failed run, a peer that stopped): abort, which does not wait for
  // the peers, as the process group's own destructor would, minus its warning.
  ~NcclComm() override {
    if (ended_) return;
    try {
      end_group(*pg_, /*graceful=*/false);
    } catch (...) {
    }
  }

 private:
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg_;
  bool ended_ = false;
};

}  // namespace

std::unique_ptr<DeviceComm> make_nccl_comm(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                           std::chrono::milliseconds timeout) {
  return std::make_unique<NcclComm>(store, rank, size, timeout);
}

}  // namespace forgery::dist
