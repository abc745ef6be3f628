// Run folders that cannot lie: which configuration keys can change what a command produces, the
// configuration a run folder records (<run.out_dir>/config.toml, and every checkpoint), and the
// refusals when a command's configuration differs from the recorded one.
//
// Keys that never change a result: run.out_dir, run.threads, run.log_every, run.progress,
// run.device, data.num_workers, data.prefetch_batches, data.hdf5_file_locking, data.pin_memory,
// model.vocab (a path; the tokenizer is fixed), stage1.cache_dir, pretrain.out, checkpoint.*,
// synth.* (only `agreid synth` reads them) and eval.* (evaluation is redone from the model; the
// folder then records the new values). Pretraining depends only on clip.*, pretrain.*, run.seed,
// data.mean, data.std and data.flip_prob; training on every other key.
#pragma once

#include <string>
#include <vector>

#include "launch/config.h"

namespace agreid::launch {

enum class RunScope {
  kPretrain,  // agreid pretrain
  kTraining,  // agreid pseudo-label / train / run (stage 1, stage 2, evaluation)
};

struct KeyChange {
  std::string key;
  std::string recorded;
  std::string now;
};

// The keys of `scope` whose values differ (seed included unless `ignore_seed`).
std::vector<KeyChange> resultChanges(const Config& recorded, const Config& now, RunScope scope,
                                     bool ignore_seed = false);

// The values of the keys of `scope` as one string ("key=value\n" each), without run.seed when
// `ignore_seed`: two configurations have the same signature exactly when resultChanges() finds
// no difference.
std::string resultSignature(const Config& config, RunScope scope, bool ignore_seed = false);

// "stage2.lr (recorded 0.0001, now 5e-05), run.seed (recorded 1, now 2)".
std::string describeChanges(const std::vector<KeyChange>& changes);

// <run.out_dir>/config.toml.
std::string recordedConfigPath(const Config& config);

// Throws InputError (one line naming the differing keys) when the run folder records a
// configuration that differs from `config` in a key of `scope`. Not collective.
void checkRunFolder(const Config& config, RunScope scope);

// What `--restart` removes for `scope` (existing paths only): the folder's checkpoints, final
// outputs, metrics and results, and its recorded configuration.
std::vector<std::string> restartPaths(const Config& config, RunScope scope);

// Throws InputError when a checkpoint's recorded configuration (TOML text) differs from `config`
// in a key of `scope`. An empty text (an older checkpoint) passes.
void checkCheckpointConfig(const std::string& checkpoint, const std::string& recorded_toml,
                           const Config& config, RunScope scope);

}  // namespace agreid::launch
