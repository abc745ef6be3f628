#include "trainer/device.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <dlfcn.h>

#include <algorithm>
#include <thread>

#include "base/error.h"

namespace agreid::trainer {

c10::Device chooseDevice(DeviceChoice choice, int local_rank) {
  const bool have_cuda = torch::cuda::is_available();
  if (choice == DeviceChoice::kCpu || (choice == DeviceChoice::kAuto && !have_cuda)) {
    return c10::Device(c10::kCPU);
  }
  if (!have_cuda) {
    throw InputError("run.device = \"cuda\" but no CUDA device is usable by this LibTorch");
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

void configureThreads(int64_t threads, int local_ranks) {
  if (threads <= 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, local_ranks));
  }
  at::set_num_threads(static_cast<int>(threads));
  // Debian's LibTorch does its matrix products in OpenBLAS, whose pthread build keeps its own
  // pool sized to every core; with several ranks per node that oversubscribes the cores. Give it
  // the same budget (found at run time: the BLAS is chosen by the system's alternatives).
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(static_cast<int>(threads));
  }
}

}  // namespace agreid::trainer
