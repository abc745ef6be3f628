#include "launch/commands.h"

namespace agreid::launch {

Config configFromArgs(const ParsedArgs& args) {
  ConfigSources sources;
  sources.file = args.get("config");
  sources.sets = args.all("set");
  return loadConfig(sources);
}

std::vector<CommandSpec> builtinCommands() {
  return {
      configCommand(),  synthCommand(),  importCommand(),   inspectCommand(),     evalCommand(),
      extractCommand(), promptCommand(), pretrainCommand(), pseudoLabelCommand(), trainCommand(),
      runCommand(),     reportCommand(), sweepCommand(),
  };
}

}  // namespace agreid::launch
