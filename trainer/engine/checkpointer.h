// Checkpointer: saves and restores everything a run needs to continue exactly where it stopped
// (design.md §4.7): model parameters and buffers by name, optimiser state (with the parameter
// groups' lr), the counters that define the schedule and the sampler position (step, epoch, batch
// within the epoch), the CPU generator state of every rank, the resolved config (TOML text), the
// pseudo-label cache key and extra named tensors (e.g. the gathered memory bank). Optimiser state
// is torch::optim's per-parameter state (Adam's moments and step) plus every group's lr; the other
// group options come from the config.
//
// File: checkpoint-<step>.pt (a torch::serialize archive) in `dir`, plus `latest`, a text file
// naming the newest checkpoint. Rank 0 writes both to a temporary file in `dir`, fsyncs and
// renames it atomically; only the newest `keep_last` checkpoints are kept (0 keeps all).
//
// Every rank must call save() and load() (the RNG states are gathered to rank 0 on save; on load
// every rank reads the file and takes its own row, which needs the file on a file system all
// ranks see). Model and optimiser state are rank 0's (identical on every rank under data
// parallelism). Not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "trainer/engine/train_state.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}
namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer {

struct CheckpointerOptions {
  std::string dir;
  int64_t keep_last = 3;
};

// resolveResume's answer: the checkpoint to resume from ("" = start afresh) and what the caller
// should tell the user about how it was chosen (fallbacks; empty when `latest` was used as is).
struct ResumeChoice {
  std::string path;
  std::vector<std::string> notes;
};

// What a checkpoint captures. The pointers may be null (nothing saved or restored for them) and
// must stay valid during the call.
struct CheckpointContents {
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  std::string config_toml;
  std::string cache_key;
  int64_t global_batch = 0;                 // images per optimiser step over all ranks (0: n/a)
  std::map<std::string, at::Tensor> extra;  // rank 0's values are saved
};

struct LoadedCheckpoint {
  std::string path;
  TrainState state;  // step, epoch, batch_in_epoch (the rest default)
  std::string config_toml;
  std::string cache_key;
  std::map<std::string, at::Tensor> extra;
  int saved_world_size = 1;
  int64_t global_batch = 0;   // 0: not recorded
  bool rng_restored = false;  // false when the world size differs from the saved one
};

class Checkpointer {
 public:
  // `comm` must outlive the Checkpointer. Rank 0 creates `dir` on the first save.
  Checkpointer(CheckpointerOptions opts, comm::Communicator& comm);

  // All ranks. Writes checkpoint-<state.step>.pt and returns its path. Throws InputError (on
  // every rank) when rank 0 cannot write it; no partial file is left behind.
  std::string save(const TrainState& state, const CheckpointContents& contents);

  // All ranks. Restores model, optimiser and this rank's RNG state from `path` and returns the
  // rest. A checkpoint of another architecture (a missing, unexpected or shape-mismatched tensor)
  // throws InputError naming the tensor, before anything is modified.
  LoadedCheckpoint load(const std::string& path, const CheckpointContents& contents);

  // Model parameters and buffers only (a new run initialised from a checkpoint's weights), after
  // the CRC check and with load()'s validation. Not collective.
  void loadWeights(const std::string& path, torch::nn::Module& model) const;

  // `resume` = "none" -> start afresh. "auto" -> the checkpoint `latest` names, which must be a
  // checkpoint file of `dir` (InputError otherwise); when it is missing or damaged (the CRC-32 of
  // every zip entry is checked, trainer/util/zip_verify.h), the
  // newest complete older one, with a note saying so; with no `latest` but checkpoints in `dir`,
  // the newest complete one, with a note; with none, start afresh. A path must be a checkpoint
  // of `dir` (InputError naming --init-from otherwise) and be undamaged. Not collective.
  ResumeChoice resolveResume(const std::string& resume) const;

  const CheckpointerOptions& options() const { return opts_; }

 private:
  void prune() const;

  CheckpointerOptions opts_;
  comm::Communicator& comm_;
};

}  // namespace agreid::trainer
