#pragma once
// Collectives of CUDA tensors over NCCL (c10d's ProcessGroupNCCL), beside the Gloo group that
// does everything else (rendezvous store, heartbeats, states, barriers). Built where LibTorch
// has CUDA and NCCL's header is found at configure time (the build compiles this very file to
// decide); elsewhere nccl_built() is false and gradients of CUDA tensors go through host
// memory over Gloo.
#include <ATen/core/Tensor.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
#include <string>

namespace c10d {
class Store;
}

namespace forgery::dist {

bool nccl_built();

class DeviceComm {
 public:
  virtual ~DeviceComm() = default;
  // In place, every rank alike; each returns when the result is in `flat` (blocking wait, so
  // that a dead or stalled peer becomes an exception after the timeout, not a hang).
  virtual void allreduce_sum(at::Tensor& flat) = 0;
  virtual void broadcast(at::Tensor& flat) = 0;  // from rank 0
  // The communicator ended in step with the peers (every rank calls it, after a last
  // collective). A comm destroyed without it is aborted: no wait for peers that may be gone.
  virtual void shutdown() = 0;
};

// A NCCL communicator of `size` ranks on the rendezvous `store` (its own prefix within it).
// Errors (forgery::Error) say what failed.
std::unique_ptr<DeviceComm> make_nccl_comm(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                           std::chrono::milliseconds timeout);

}  // namespace forgery::dist
