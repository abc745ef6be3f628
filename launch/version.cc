#include "launch/version.h"

#include <torch/version.h>

namespace agreid::launch {

std::string versionString() {
  return std::string("agreid ") + AGREID_VERSION + " (LibTorch " + TORCH_VERSION +
         ", NCCL communicator: " + (AGREID_HAVE_NCCL ? "yes" : "no") + ")";
}

}  // namespace agreid::launch
