// Device choice (run.device): kAuto takes CUDA when LibTorch has it and a GPU is visible, else CPU.
// With CUDA, each rank takes GPU (local_rank mod visible GPUs).
#pragma once

#include <c10/core/Device.h>

#include <string>

#include "trainer/options.h"

namespace agreid::trainer {

// Throws InputError for kCuda without a usable GPU.
c10::Device chooseDevice(DeviceChoice choice, int local_rank);

// Sets LibTorch's intra-op threads: `threads`, or (cores / ranks on this node) when 0.
void configureThreads(int64_t threads, int local_ranks);

}  // namespace agreid::trainer
