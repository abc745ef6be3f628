#pragma once

#include <string>

namespace agreid::launch {

// "agreid X.Y.Z (LibTorch A.B.C, NCCL communicator: yes|no)".
std::string versionString();

}  // namespace agreid::launch
