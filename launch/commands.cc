#include "launch/commands.h"

#include <filesystem>

namespace agreid::launch {
namespace {

// The defaults that depend on other keys, filled once here so that no command resolves them
// again: pretrain.out and stage1.cache_dir (in run.out_dir), eval.dataset (run.dataset).
void resolveDerivedDefaults(Config& config) {
  const std::filesystem::path out(config.run.out_dir);
  if (config.pretrain.out.empty()) config.pretrain.out = (out / "clip.pt").string();
  if (config.stage1.cache_dir.empty()) config.stage1.cache_dir = (out / "cache").string();
  if (config.eval.dataset.empty()) config.eval.dataset = config.run.dataset;
}

}  // namespace

Config configFromArgs(const ParsedArgs& args) {
  ConfigSources sources;
  sources.file = args.get("config");
  sources.sets = args.all("set");
  Config config = loadConfig(sources);
  resolveDerivedDefaults(config);
  return config;
}

std::vector<CommandSpec> builtinCommands() {
  return {
      configCommand(),  synthCommand(),  importCommand(),   inspectCommand(),     evalCommand(),
      extractCommand(), promptCommand(), pretrainCommand(), pseudoLabelCommand(), trainCommand(),
      runCommand(),     reportCommand(), sweepCommand(),
  };
}

}  // namespace agreid::launch
