#include "forgery/core/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "forgery/core/error.h"

namespace forgery {

bool cuda_available() { return torch::cuda::is_available(); }
int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

c10::Device select_device(const std::string& spec) {
  if (spec == "auto") return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    // The name first (cuda or cuda:N), then whether there is such a device.
    const std::string index = spec.size() > 5 && spec[4] == ':' ? spec.substr(5) : "";
    if (spec != "cuda" && (index.empty() || index.size() > 3 || index.find_first_not_of("0123456789") != std::string::npos))
      throw UsageError("device '" + spec + "': not a device name (auto, cpu, cuda, cuda:N)");
    if (!cuda_available())
      throw UsageError("device '" + spec + "': CUDA is not available in this build or machine; use --device cpu");
    try {
      c10::Device d(spec);
      if (d.has_index() && d.index() >= static_cast<int>(torch::cuda::device_count()))
        throw UsageError("device '" + spec + "': this machine has " +
                         std::to_string(torch::cuda::device_count()) + " CUDA device(s)");
      return d.has_index() ? d : c10::Device(c10::kCUDA, 0);
    } catch (const c10::Error&) {
      throw UsageError("device '" + spec + "': not a device name (auto, cpu, cuda, cuda:N)");
    }
  }
  throw UsageError("device '" + spec + "': not a device name (auto, cpu, cuda, cuda:N)");
}

int physical_cores() {
  // Count distinct (physical id, core id) pairs; fall back to the hardware thread count.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(in, line)) {
    auto value = [&]() { return line.substr(line.find(':') + 1); };
    if (line.rfind("physical id", 0) == 0) phys = value();
    if (line.rfind("core id", 0) == 0) cores.emplace(phys, value());
  }
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (cores.empty()) return hw > 0 ? hw : 1;
  return static_cast<int>(cores.size());
}

void use_deterministic_algorithms() {
  // cuBLAS reads this when it makes its first handle; a user's own setting wins.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
  auto& ctx = at::globalContext();
  ctx.setDeterministicCuDNN(true);
  ctx.setBenchmarkCuDNN(false);
  ctx.setDeterministicAlgorithms(true, false);
}

void choose_algorithms(const c10::Device& device, bool deterministic) {
  if (deterministic) use_deterministic_algorithms();
  else if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

void keep_mkl_thread_count() {
  // The first call decides whether the variable is the user's (main() calls this first).
  static const bool users_choice = std::getenv("MKL_DYNAMIC") != nullptr;
  if (users_choice) return;
  using Fn = void (*)(int);
  for (const char* name : {"MKL_Set_Dynamic", "mkl_set_dynamic"})
    if (auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name))) {
      fn(0);
      return;
    }
  // Not exported: MKL reads the variable when it starts, if it has not started yet. Set once,
  // on the first call (main(), before any other thread exists).
  static std::once_flag once;
  std::call_once(once, [] { setenv("MKL_DYNAMIC", "FALSE", 0); });
}

int configure_threads(int requested) {
  if (requested < 0) throw UsageError("threads: must be 0 (one per physical core) or a positive count");
  int n = requested > 0 ? requested : physical_cores();
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  if (requested > 0 && hardware > 0 && requested > hardware) {
    static std::once_flag once;
    std::call_once(once, [&] {
      std::fprintf(stderr,
                   "forgery: warning: %d CPU threads on a machine with %d hardware threads: the threads wait for each "
                   "other and the run will be much slower (0 chooses one per physical core)\n",
                   requested, hardware);
    });
  }
  keep_mkl_thread_count();
  at::set_num_threads(n);
  return n;
}

const char* blas_threading() {
  using Fn = int (*)();
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
  if (!fn) return "unknown";
  switch (fn()) {
    case 0: return "sequential";
    case 1: return "pthreads";
    case 2: return "openmp";
  }
  return "unknown";
}

std::string blas_description() {
  if (dlsym(RTLD_DEFAULT, "openblas_get_parallel")) return std::string("OpenBLAS (") + blas_threading() + ")";
  using Get = int (*)();
  if (auto get = reinterpret_cast<Get>(dlsym(RTLD_DEFAULT, "MKL_Get_Dynamic")))
    return std::string("MKL (dynamic threads ") + (get() ? "on" : "off") + ")";
  const char* env = std::getenv("MKL_DYNAMIC");
  return std::string("not identified (MKL_DYNAMIC=") + (env ? env : "unset") + ")";
}

void configure_openmp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (std::string(blas_threading()) != "pthreads") return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on; only speed is affected.
}

std::string explain_library_error(const std::string& what) {
  if (what.find("device-side assert triggered") == std::string::npos) return what;
  return what +
         "\nforgery: a check inside a CUDA kernel failed (CUDA prints which one above, \"Assertion ... failed\"). "
         "In training this is most often a run that diverged: with loss = \"bce\" the loss's input became NaN, which "
         "the CUDA kernel refuses (on the CPU the same run stops with \"training diverged\"). The CUDA context cannot "
         "go on after it, so nothing more was saved: the run's last checkpoint is its last good state. Lower the "
         "learning rates (--set lr_g=..., lr_d=..., or lr), or rerun with CUDA_LAUNCH_BLOCKING=1 to see the step "
         "that failed";
}

}  // namespace forgery
