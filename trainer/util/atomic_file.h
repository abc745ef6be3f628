// Whole-file text I/O for the trainer. Writing is atomic (base/atomic_file.h: a unique temporary
// created exclusively beside the target, fsync, rename, fsync of the folder); the names are
// re-exported here so that trainer code keeps one spelling. Used for checkpoints, results,
// summaries and plots. Not collective; thread-compatible.
#pragma once

#include <string>

#include "base/atomic_file.h"

namespace agreid::trainer {

using ::agreid::commitTempFile;
using ::agreid::removeTempFile;
using ::agreid::tempPathFor;
using ::agreid::writeFileAtomically;

// The bytes of `path`; "" when it cannot be read.
std::string readFileText(const std::string& path);

}  // namespace agreid::trainer
