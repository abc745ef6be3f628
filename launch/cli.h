// Command-line parsing for agreid subcommands: each command declares its options in a
// CommandSpec; help text is generated from the same spec, so it cannot drift.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "launch/process_env.h"

namespace agreid::comm {
class MpiSession;
}

namespace agreid::launch {

struct OptionSpec {
  std::string name;     // without the leading "--"
  std::string metavar;  // empty: a flag without a value
  std::string help;
  bool repeated = false;  // may be given several times (e.g. --set)
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> options;  // name -> values ("" for flags)
  std::vector<std::string> positionals;

  bool has(const std::string& name) const { return options.count(name) > 0; }
  // Last value of an option, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& all(const std::string& name) const;
  // Last value of an option as a whole decimal integer in [lo, hi], or `fallback` when absent.
  // Throws InputError "agreid COMMAND: --NAME expects an integer in lo..hi, got 'VALUE'".
  int64_t getInt(const std::string& command, const std::string& name, int64_t fallback, int64_t lo,
                 int64_t hi) const;
};

struct CommandContext {
  ProcessEnv env;
  Log log;
  comm::MpiSession* mpi = nullptr;  // set for commands with `uses_mpi`
  std::string command_line;         // "agreid run --config c.toml" (the run folder's log.txt)
};

struct CommandSpec {
  std::string name;
  std::string summary;  // one line, for `agreid --help`
  std::string usage;    // e.g. "agreid config show [--config FILE] [--set KEY=VALUE ...]"
  std::string details;  // paragraphs after the usage line (may be empty)
  std::vector<OptionSpec> options;
  // Positional words the command takes at most (-1: any number); more are an error naming them.
  // Commands check their own minimum with a message that says what is missing.
  int max_positionals = 0;
  bool uses_mpi = false;  // MPI is initialised before run() is called
  int (*run)(const ParsedArgs& args, CommandContext& ctx) = nullptr;
};

// Parses `args` (the words after the command name). Throws InputError naming the command and
// the offending word: an unknown option (with the nearest known one), a missing or unexpected
// value, an option given twice, or more positional words than the command takes.
ParsedArgs parseArgs(const CommandSpec& spec, const std::vector<std::string>& args);

std::string commandHelp(const CommandSpec& spec);

// The shared options of commands that read a configuration.
std::vector<OptionSpec> configOptions();

}  // namespace agreid::launch
