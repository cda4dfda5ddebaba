// Built only where LibTorch has CUDA and this file compiles (CMakeLists.txt compiles it to
// decide); src/forgery/train/cuda_step_off.cpp stands in elsewhere.
#include "forgery/train/cuda_step.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/GradMode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/optim/adam.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "forgery/core/error.h"
#include "forgery/train/optimizer_state_key.h"

// LibTorch 2.4 and later: a generator's state can be swapped whole (graph-safe), and a capture's
// memory pool be closed by hand; what a failed capture needs to leave no trace (below).
// (CMake defines it 0 where that part does not compile against this LibTorch.)
#ifndef FORGERY_CAPTURE_RECOVERY
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define FORGERY_CAPTURE_RECOVERY 1
#else
#define FORGERY_CAPTURE_RECOVERY 0
#endif
#endif

namespace forgery {

bool cuda_step_built() { return true; }

namespace {
// True on the thread that is capturing a graph: an Adam step there must not create state or
// fill a step count (that would be recorded and repeated at every replay).
thread_local bool capturing = false;
}  // namespace

bool cuda_graph_capturing() { return capturing; }

bool forbid_cuda_syncs(bool on) {
  c10::cuda::warning_state().set_sync_debug_mode(on ? c10::cuda::SyncDebugMode::L_ERROR
                                                    : c10::cuda::SyncDebugMode::L_DISABLED);
  return true;
}

namespace {

// The device's copy of one parameter's Adam step count, and the value the host last gave it
// (or saw it advance to): the two move together, and a difference (a checkpoint loaded into
// the optimiser, an update by another form of Adam) is mended by one fill before the next
// eager step.
struct DeviceStep {
  const c10::TensorImpl* exp_avg = nullptr;  // the state it belongs to (a reloaded state has new moments)
  at::Tensor count;                          // float32 scalar on the parameter's device
  int64_t value = -1;
};
std::unordered_map<const torch::optim::AdamParamState*, DeviceStep>& device_steps() {
  static std::unordered_map<const torch::optim::AdamParamState*, DeviceStep> steps;
  return steps;
}

DeviceStep& device_step_for(const torch::optim::AdamParamState& s, const at::Tensor& p) {
  auto& d = device_steps()[&s];
  const bool stale = !d.count.defined() || d.exp_avg != s.exp_avg().unsafeGetTensorImpl() ||
                     d.count.device() != p.device();
  if (stale || d.value != s.step()) {
    if (capturing)
      throw Error("an Adam state was created or changed on the host just before a CUDA graph capture "
                  "(it needs an eager step first)");
    if (stale) {
      d.exp_avg = s.exp_avg().unsafeGetTensorImpl();
      d.count = at::scalar_tensor(static_cast<double>(s.step()), p.options().dtype(at::kFloat));
    } else {
      d.count.fill_(static_cast<double>(s.step()));
    }
    d.value = s.step();
  }
  return d;
}

// Element i at the same place in memory in both (the fused kernel walks them as flat arrays).
// A dimension of size 1 may carry any stride: a channels-last weight with one input channel
// ([64, 1, 4, 4]: DCGAN's first layer on MNIST) and its gradient often differ there only.
bool same_layout(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined() || a.device() != b.device() || a.scalar_type() != b.scalar_type() ||
      a.sizes() != b.sizes() || !a.is_non_overlapping_and_dense() || !b.is_non_overlapping_and_dense())
    return false;
  for (int64_t d = 0; d < a.dim(); ++d)
    if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
  return true;
}

// `t` seen with `p`'s strides: the same elements (same_layout(p, t) holds; they can differ only
// on dimensions of size 1), for LibTorch versions whose fused kernel wants identical strides.
at::Tensor with_strides_of(const at::Tensor& t, const at::Tensor& p) {
  return t.strides() == p.strides() ? t : t.as_strided(p.sizes(), p.strides(), t.storage_offset());
}

}  // namespace

bool fused_adam_cuda(torch::optim::Adam& opt) {
  // Inside a capture there is no other form to fall back on: the multi-tensor form's bias
  // corrections are host numbers that every replay would repeat.
  auto decline = [](const char* why) {
    if (capturing) throw Error(std::string("the fused Adam cannot run inside a CUDA graph capture: ") + why);
    return false;
  };
  auto& states = opt.state();
  c10::optional<c10::Device> device;
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad()) return decline("weight decay or amsgrad");
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!p.is_cuda() || (device && *device != p.device())) return decline("parameters not all on one CUDA device");
      const auto t = p.scalar_type();
      if (t != at::kFloat && t != at::kHalf && t != at::kBFloat16) return decline("a parameter's type");
      if (!p.is_non_overlapping_and_dense() || !same_layout(p, p.grad()))
        return decline("a gradient's layout differs from its parameter's");
      auto it = states.find(optimizer_state_key<std::decay_t<decltype(states)>>(p));
      if (it != states.end()) {
        auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
        if (!same_layout(p, s.exp_avg()) || !same_layout(p, s.exp_avg_sq())) {
          // Moments loaded from a checkpoint (contiguous) for channels-last weights: the kernel
          // wants one layout, so they take the parameter's (values unchanged).
          if (capturing || p.sizes() != s.exp_avg().sizes() || p.sizes() != s.exp_avg_sq().sizes())
            return decline("a moment's layout differs from its parameter's");
          s.exp_avg(at::empty_like(p).copy_(s.exp_avg()));
          s.exp_avg_sq(at::empty_like(p).copy_(s.exp_avg_sq()));
        }
      } else if (capturing) {
        throw Error("a parameter took its first Adam step inside a CUDA graph capture (it needs an eager step first)");
      }
      device = p.device();
    }
  }
  if (!device) return true;  // no gradients: nothing to update
  c10::AutoGradMode no_grad(false);
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, counts;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& s = adam_state_of(states, p);
      DeviceStep& d = device_step_for(s, p);
      s.step(s.step() + 1);
      d.value = s.step();
      params.push_back(p);
      grads.push_back(with_strides_of(p.grad(), p));
      exp_avgs.push_back(with_strides_of(s.exp_avg(), p));
      exp_avg_sqs.push_back(with_strides_of(s.exp_avg_sq(), p));
      counts.push_back(d.count);
    }
    if (params.empty()) continue;
    // As torch.optim.Adam(fused=True): the counts advance on the device, then one kernel reads
    // them for the bias corrections and updates moments and parameters.
    at::_foreach_add_(counts, 1);
    at::_fused_adam_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/at::TensorList(), counts, o.lr(),
                     std::get<0>(o.betas()), std::get<1>(o.betas()), /*weight_decay=*/0.0, o.eps(),
                     /*amsgrad=*/false, /*maximize=*/false);
  }
  return true;
}

namespace {

// Host step counts of every Adam state of the optimisers, to see what a captured step advanced.
using StepCounts = std::map<torch::optim::AdamParamState*, int64_t>;

StepCounts step_counts(const std::vector<torch::optim::Adam*>& optimizers) {
  StepCounts out;
  for (auto* opt : optimizers)
    for (auto& [key, state] : opt->state()) {
      (void)key;
      auto* s = static_cast<torch::optim::AdamParamState*>(state.get());
      out[s] = s->step();
    }
  return out;
}

// What a captured step depends on besides the tensors' contents: the batch's names, shapes,
// strides, types and devices, and the optimisers' learning rates, betas and eps (arguments of
// the captured Adam kernels). Plain numbers, compared at every step without formatting.
struct StepKey {
  std::vector<std::string> names;
  std::vector<int64_t> layout;
  std::vector<double> hyper;
  bool operator==(const StepKey& o) const { return layout == o.layout && hyper == o.hyper && names == o.names; }
  bool operator<(const StepKey& o) const {
    return std::tie(layout, hyper, names) < std::tie(o.layout, o.hyper, o.names);
  }
};

}  // namespace

struct GraphedSteps::Impl {
  struct Graph {
    StepKey key;
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    Batch inputs;                                   // what the graph reads: each batch is copied in
    std::vector<LossValue> outputs;                 // what the captured step returned
    std::vector<std::pair<torch::optim::AdamParamState*, int64_t>> advances;  // host counts per replay
    uint64_t used = 0;
  };

  std::vector<torch::optim::Adam*> optimizers;
  int warmup = 2;
  size_t max_graphs = 2;
  c10::DeviceIndex device = 0;
  c10::optional<c10::cuda::CUDAStream> side;
  std::vector<std::unique_ptr<Graph>> graphs;
  std::map<StepKey, int> sightings;  // eager runs of each key so far
  uint64_t clock = 0;
  int64_t n_captures = 0, n_replays = 0, n_eager = 0;
  std::string reason;

  StepKey key_of(const Batch& batch) const {
    StepKey k;
    for (const auto& [name, t] : batch) {
      k.names.push_back(name);
      k.layout.push_back(t.dim());
      k.layout.insert(k.layout.end(), t.sizes().begin(), t.sizes().end());
      k.layout.insert(k.layout.end(), t.strides().begin(), t.strides().end());
      k.layout.push_back(static_cast<int64_t>(t.scalar_type()));
      k.layout.push_back(static_cast<int64_t>(t.device().type()));
      k.layout.push_back(t.device().index());
    }
    for (auto* opt : optimizers)
      for (auto& group : opt->param_groups()) {
        auto& a = static_cast<torch::optim::AdamOptions&>(group.options());
        k.hyper.insert(k.hyper.end(), {a.lr(), std::get<0>(a.betas()), std::get<1>(a.betas()), a.eps()});
      }
    return k;
  }

  // Work on the side stream, ordered after what the current stream has queued and before
  // what it queues next.
  template <class F>
  auto on_side_stream(F&& f) {
    auto current = c10::cuda::getCurrentCUDAStream(device);
    at::cuda::CUDAEvent before;
    before.record(current);
    before.block(*side);
    c10::cuda::CUDAStreamGuard guard(*side);
    auto out = f();
    at::cuda::CUDAEvent after;
    after.record(*side);
    after.block(current);
    return out;
  }

  Graph& capture(const StepKey& key, const Batch& batch, const StepFn& step) {
    if (graphs.size() >= max_graphs) {
      // The least recently used goes; its last replay must be done before it is destroyed.
      auto lru = std::min_element(graphs.begin(), graphs.end(),
                                  [](const auto& a, const auto& b) { return a->used < b->used; });
      c10::cuda::getCurrentCUDAStream(device).synchronize();
      graphs.erase(lru);
    }
    auto g = std::make_unique<Graph>();
    g->key = key;
    for (const auto& [name, t] : batch) g->inputs[name] = at::empty_like(t);
    const StepCounts before = step_counts(optimizers);
    g->graph = std::make_unique<at::cuda::CUDAGraph>();
    auto restore = [&] {
      // The step's host code ran (its Adam counts advanced) but none of its kernels did.
      for (auto& [s, v] : before) s->step(v);
      for (auto& [s, d] : device_steps()) {
        (void)s;
        d.value = -1;  // refilled from the host before the next eager step
      }
    };
#if FORGERY_CAPTURE_RECOVERY
    // A failed capture's end (an invalidated capture: a host sync inside the step) throws
    // before LibTorch takes the CUDA generator out of capture mode and the allocator off the
    // graph's pool: every later random draw would then fail ("Offset increment outside graph
    // capture"). The generator's state as it was before goes back in whole; its offsets did not
    // move during the capture (draws there count inside the graph), so eager steps go on with
    // the numbers they would have had.
    at::Generator generator = at::cuda::detail::getDefaultCUDAGenerator(device);
    const at::Generator generator_before = generator.clone();
#endif
    on_side_stream([&] {
      g->graph->capture_begin();
      capturing = true;
      bool ended = false;
      try {
        g->outputs = step(g->inputs);
        capturing = false;
        ended = true;
        g->graph->capture_end();
      } catch (...) {
        capturing = false;
        if (!ended) {
          try {
            g->graph->capture_end();  // the stream leaves capture mode
          } catch (...) {
          }
        }
#if FORGERY_CAPTURE_RECOVERY
        try {
          c10::cuda::CUDACachingAllocator::endAllocateToPool(device, g->graph->pool());
        } catch (...) {  // capture_end got that far
        }
        generator.graphsafe_set_state(generator_before);
#endif
        restore();
        throw;
      }
      return 0;
    });
    for (auto& [s, v] : step_counts(optimizers)) {
      auto it = before.find(s);
      const int64_t advance = s->step() - (it == before.end() ? 0 : it->second);
      if (advance != 0) g->advances.emplace_back(s, advance);
    }
    ++n_captures;
    graphs.push_back(std::move(g));
    return *graphs.back();
  }

  std::vector<LossValue> replay(Graph& g, const Batch& batch, bool just_captured) {
    for (const auto& [name, t] : batch) g.inputs.at(name).copy_(t, /*non_blocking=*/true);
    g.graph->replay();
    g.used = ++clock;
    ++n_replays;
    // A capture ran the step's host code once: its Adam counts already stand for this replay.
    if (!just_captured)
      for (auto& [s, advance] : g.advances) {
        s->step(s->step() + advance);
        auto it = device_steps().find(s);
        if (it != device_steps().end() && it->second.value >= 0) it->second.value += advance;
      }
    return g.outputs;
  }
};

GraphedSteps::GraphedSteps(std::vector<torch::optim::Adam*> optimizers, int warmup, size_t max_graphs)
    : impl_(std::make_unique<Impl>()) {
  impl_->optimizers = std::move(optimizers);
  impl_->warmup = warmup;
  impl_->max_graphs = std::max<size_t>(1, max_graphs);
  c10::optional<c10::Device> device;
  for (auto* opt : impl_->optimizers)
    for (auto& group : opt->param_groups())
      for (auto& p : group.params()) {
        if (!p.is_cuda()) throw Error("CUDA graphs: the networks are not on a CUDA device");
        if (device && *device != p.device()) throw Error("CUDA graphs: the networks are on several devices");
        device = p.device();
      }
  if (!device) throw Error("CUDA graphs: no parameters to train");
  impl_->device = device->index();
  impl_->side = c10::cuda::getStreamFromPool(false, impl_->device);
}

GraphedSteps::~GraphedSteps() {
  // Replays may still be queued: they read the graphs' memory.
  if (impl_ && !impl_->graphs.empty()) {
    try {
      c10::cuda::getCurrentCUDAStream(impl_->device).synchronize();
    } catch (...) {
    }
  }
}

std::vector<LossValue> GraphedSteps::run(const Batch& batch, const StepFn& step) {
  Impl& m = *impl_;
  c10::cuda::CUDAGuard device_guard(m.device);
  if (!m.reason.empty()) {
    ++m.n_eager;
    return step(batch);
  }
  const StepKey key = m.key_of(batch);
  for (auto& g : m.graphs)
    if (g->key == key) return m.replay(*g, batch, false);
  if (m.sightings[key]++ < m.warmup) {
    // A new key runs eagerly first, on the stream the capture will use: whatever the kernels
    // for these shapes initialise lazily (cuBLAS and cuDNN workspaces, plans) exists before.
    ++m.n_eager;
    return m.on_side_stream([&] { return step(batch); });
  }
  Impl::Graph* g = nullptr;
  try {
    g = &m.capture(key, batch, step);
  } catch (const std::exception& e) {
    m.reason = std::string("the capture failed: ") + e.what();
    (void)cudaGetLastError();  // the capture's error, so that the next kernel launch check does not report it
    c10::cuda::getCurrentCUDAStream(m.device).synchronize();  // earlier graphs' replays read their memory
    m.graphs.clear();
    ++m.n_eager;
    try {
      return step(batch);
    } catch (const std::exception& after) {
      // Some LibTorch versions leave the CUDA generator in capture mode after a failed capture.
      throw Error("CUDA graphs: " + m.reason + "; the step then failed eagerly too (" + after.what() +
                  "); resume the run with --set cuda_graphs=off");
    }
  }
  return m.replay(*g, batch, true);
}

int64_t GraphedSteps::captures() const { return impl_->n_captures; }
int64_t GraphedSteps::replays() const { return impl_->n_replays; }
int64_t GraphedSteps::eager_steps() const { return impl_->n_eager; }
const std::string& GraphedSteps::disabled_reason() const { return impl_->reason; }

}  // namespace forgery
