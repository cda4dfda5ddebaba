#pragma once
// Device selection and thread settings.
#include <c10/core/Device.h>
#include <string>

namespace forgery {

// "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N"; errors name the option.
c10::Device select_device(const std::string& spec);
bool cuda_available();

// Intra-op threads for LibTorch and OpenBLAS. 0 means one per physical core (LibTorch 1.13
// would otherwise take half the hardware threads, 2.x all physical cores).
int configure_threads(int requested);
int physical_cores();

// OpenMP threads that spin after a parallel region fight OpenBLAS's own threads for the
// cores (measured: 2.6x slower on 2 cores). GNU OpenMP reads OMP_WAIT_POLICY when it loads,
// before main(), so the tool re-executes itself once with it set. Returns only if no
// re-execution was needed or possible.
void ensure_passive_openmp(char** argv);

}  // namespace forgery
