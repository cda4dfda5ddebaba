#pragma once
// Device selection and thread settings.
#include <c10/core/Device.h>
#include <string>

namespace forgery {

// "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N"; errors name the option.
c10::Device select_device(const std::string& spec);
bool cuda_available();
int cuda_device_count();

// Intra-op threads for LibTorch and OpenBLAS. 0 means one per physical core (LibTorch 1.13
// would otherwise take half the hardware threads, 2.x all physical cores).
int configure_threads(int requested);
// On an MKL build of LibTorch (the PyTorch wheels): MKL's dynamic choice of thread counts off,
// one of Intel's conditions for results that repeat run to run (with a fixed thread count).
// A user's MKL_DYNAMIC wins; nothing where the BLAS is not MKL. main() calls it first, before any
// other thread exists (it may set the variable); configure_threads calls it again.
void keep_mkl_thread_count();

// Deterministic algorithms only (cuDNN without autotuning, cuBLAS with a fixed workspace):
// CUDA runs repeat and resume bit for bit. An operation without a deterministic
// implementation then fails naming itself.
void use_deterministic_algorithms();
// How a training run picks its CUDA kernels: deterministic ones (above), or else cuDNN's fastest
// for each convolution shape, timed once when the shape first runs (cuDNN's benchmark mode, which
// the reference pix2pix/CycleGAN implementation turns on too: a run's batches have one size).
// Nothing on CPUs.
void choose_algorithms(const c10::Device& device, bool deterministic);
int physical_cores();

// LibTorch's message for an error the tool did not anticipate, with what a user needs beside
// it: a CUDA device-side assert (the message says only that one fired, and the process's CUDA
// context is lost with it) is explained, with the case users meet, a diverged run whose BCE
// input became NaN. Other messages come back as they are.
std::string explain_library_error(const std::string& what);

// Thread layers: LibTorch's element-wise work runs on OpenMP threads; OpenBLAS runs its
// matrix products either on the same OpenMP threads (its OpenMP build, which scripts/setup
// selects: one layer) or on its own pthreads. In the second case OpenMP threads spinning
// after a parallel region fight OpenBLAS's threads for the cores (measured 2.6x slower on
// 2 cores), so OMP_WAIT_POLICY=PASSIVE is needed; GNU OpenMP reads it when it loads, before
// main(), so the tool then re-executes itself once with it set. A user's own setting wins.
// Returns only if no re-execution was needed or possible.
void configure_openmp_wait_policy(char** argv);
// "openmp", "pthreads", "sequential" or "unknown": how the loaded OpenBLAS runs in parallel.
const char* blas_threading();
// The BLAS the process runs its CPU matrix products in, for machine.txt: "OpenBLAS (openmp)",
// "MKL (dynamic threads off)", or "not identified (MKL_DYNAMIC=...)" where the library keeps
// its symbols to itself.
std::string blas_description();

}  // namespace forgery
