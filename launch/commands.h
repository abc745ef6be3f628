// The agreid subcommands. Each lives in its own commands_*.cc file and is listed explicitly in
// builtinCommands() (no static-initialisation registry).
#pragma once

#include <vector>

#include "launch/cli.h"
#include "launch/config.h"

namespace agreid::trainer {
struct TrainSetup;
}

namespace agreid::launch {

std::vector<CommandSpec> builtinCommands();

// The stage-2 setup of a resolved configuration (`train`, `run`; tests build theirs with it).
trainer::TrainSetup trainSetup(const Config& config);

// Shared by commands that take --config/--set: the loaded configuration with the defaults that
// depend on other keys resolved (pretrain.out, stage1.cache_dir, eval.dataset).
Config configFromArgs(const ParsedArgs& args);

CommandSpec configCommand();
CommandSpec synthCommand();
CommandSpec importCommand();
CommandSpec inspectCommand();
CommandSpec evalCommand();
CommandSpec extractCommand();
CommandSpec promptCommand();
CommandSpec sweepCommand();
CommandSpec pretrainCommand();
CommandSpec pseudoLabelCommand();
CommandSpec trainCommand();
CommandSpec runCommand();
CommandSpec reportCommand();

}  // namespace agreid::launch
