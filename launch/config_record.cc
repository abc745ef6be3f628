#include "launch/config_record.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "trainer/util/atomic_file.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool neverAffects(const std::string& key) {
  static const std::vector<std::string> kKeys = {
      "run.out_dir",     "run.threads",      "run.log_every",         "run.progress",
      "run.device",      "data.num_workers", "data.prefetch_batches", "data.hdf5_file_locking",
      "data.pin_memory", "model.vocab",      "stage1.cache_dir",      "pretrain.out"};
  if (std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end()) return true;
  return startsWith(key, "checkpoint.") || startsWith(key, "synth.") || startsWith(key, "eval.");
}

bool inScope(const std::string& key, RunScope scope) {
  if (neverAffects(key)) return false;
  const bool pretraining = startsWith(key, "clip.") || startsWith(key, "pretrain.");
  if (scope == RunScope::kTraining) return !pretraining;
  return pretraining || key == "run.seed" || key == "data.mean" || key == "data.std" ||
         key == "data.flip_prob";
}

const char* const kWaysOut = "use a new run.out_dir, or --restart to start this folder over";

}  // namespace

std::vector<KeyChange> resultChanges(const Config& recorded, const Config& now, RunScope scope,
                                     bool ignore_seed) {
  Config a = recorded, b = now;
  const auto ka = configKeys(a);
  const auto kb = configKeys(b);
  std::vector<KeyChange> out;
  for (size_t i = 0; i < ka.size(); ++i) {
    if (!inScope(ka[i].key, scope) || (ignore_seed && ka[i].key == "run.seed")) continue;
    const std::string va = tomlValue(ka[i].field), vb = tomlValue(kb[i].field);
    if (va != vb) out.push_back({ka[i].key, va, vb});
  }
  return out;
}

std::string resultSignature(const Config& config, RunScope scope, bool ignore_seed) {
  Config copy = config;
  std::string out;
  for (const auto& spec : configKeys(copy)) {
    if (!inScope(spec.key, scope) || (ignore_seed && spec.key == "run.seed")) continue;
    out += spec.key + "=" + tomlValue(spec.field) + "\n";
  }
  return out;
}

std::string describeChanges(const std::vector<KeyChange>& changes) {
  std::string out;
  for (const auto& c : changes) {
    if (!out.empty()) out += ", ";
    out += c.key + " (recorded " + c.recorded + ", now " + c.now + ")";
  }
  return out;
}

std::string recordedConfigPath(const Config& config) {
  return (fs::path(config.run.out_dir) / "config.toml").string();
}

void checkRunFolder(const Config& config, RunScope scope) {
  const std::string path = recordedConfigPath(config);
  if (!fs::exists(path)) return;
  const Config recorded = configFromToml(trainer::readFileText(path), path);
  const auto changes = resultChanges(recorded, config, scope);
  if (changes.empty()) return;
  throw InputError(config.run.out_dir +
                   ": the run folder was produced with another configuration (" + path +
                   "): " + describeChanges(changes) + "; " + kWaysOut);
}

std::vector<std::string> restartPaths(const Config& config, RunScope scope) {
  const fs::path dir(config.run.out_dir);
  std::vector<fs::path> paths;
  if (scope == RunScope::kPretrain) {
    paths = {dir / "checkpoints" / "pretrain", dir / "pretrain.json",
             fs::path(config.pretrain.out)};
  } else {
    paths = {dir / "checkpoints" / "stage1",
             dir / "model_final.pt",
             dir / "train.json",
             dir / "pseudo_label.json",
             dir / "results.json",
             dir / "cmc.svg",
             dir / "ranked",
             dir / "eval"};
    // Stage 2's checkpoints (the files directly in checkpoints/, not the other stages' folders).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir / "checkpoints", ec)) {
      if (!e.is_directory()) paths.push_back(e.path());
    }
  }
  paths.push_back(dir / "metrics.jsonl");
  paths.push_back(dir / "tensorboard");
  paths.push_back(dir / "config.toml");
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (!p.empty() && fs::exists(p)) out.push_back(p.string());
  }
  return out;
}

void checkCheckpointConfig(const std::string& checkpoint, const std::string& recorded_toml,
                           const Config& config, RunScope scope) {
  if (recorded_toml.empty()) return;
  const Config recorded = configFromToml(recorded_toml, checkpoint + " (recorded configuration)");
  const auto changes = resultChanges(recorded, config, scope);
  if (changes.empty()) return;
  throw InputError(checkpoint + ": checkpoint was trained with another configuration: " +
                   describeChanges(changes) + "; " + kWaysOut);
}

}  // namespace agreid::launch
