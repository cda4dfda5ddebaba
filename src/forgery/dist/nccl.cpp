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

 private:
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> pg_;
};

}  // namespace

std::unique_ptr<DeviceComm> make_nccl_comm(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                           std::chrono::milliseconds timeout) {
  return std::make_unique<NcclComm>(store, rank, size, timeout);
}

}  // namespace forgery::dist
