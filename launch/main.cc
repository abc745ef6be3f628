// agreid: distributed training for occluded person re-identification.
//
// main() reads the process environment once, dispatches to a subcommand, and turns every escaped
// error into one log line and an exit code (docs/errors.md). With several ranks any error aborts
// the whole job so that no rank is left waiting in a collective.
#include <c10/util/Exception.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "comm/comm_error.h"
#include "comm/mpi_session.h"
#include "launch/commands.h"
#include "launch/signals.h"
#include "launch/suggest.h"
#include "launch/version.h"

namespace {

using agreid::launch::CommandSpec;

void printUsage(const std::vector<CommandSpec>& commands, std::ostream& out) {
  out << "usage: agreid <command> [options]\n"
         "       agreid help <command>\n"
         "       agreid --version\n\n"
         "Distributed training for occluded person re-identification (AG-ReID).\n\n"
         "commands:\n";
  size_t width = 0;
  for (const auto& c : commands) width = std::max(width, c.name.size());
  for (const auto& c : commands) {
    std::string name = "  " + c.name;
    name.resize(width + 4, ' ');
    out << name << c.summary << "\n";
  }
  out << "\nexit codes:\n"
         "  0   success\n"
         "  1   internal error (a bug; please report it)\n"
         "  2   bad input: configuration, command line or files (one line names what)\n"
         "  3   communication or device failure; every rank was aborted\n"
         "  75  stopped on request (SIGUSR1/SIGTERM) after a checkpoint; run again to resume\n"
         "  130 / 143  import, synth, extract or eval stopped by SIGINT / SIGTERM; partial "
         "outputs\n"
         "             removed\n"
         "\nRun 'agreid help <command>' for a command's options (docs/ has the manual).\n";
}

const CommandSpec* findCommand(const std::vector<CommandSpec>& commands, const std::string& name) {
  for (const auto& c : commands)
    if (c.name == name) return &c;
  return nullptr;
}

int unknownCommand(const std::vector<CommandSpec>& commands, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& c : commands) names.push_back(c.name);
  const std::string near = agreid::launch::nearestWord(name, names, 3);
  std::cerr << "error: unknown command '" << name << "'"
            << (near.empty() ? "" : " (did you mean '" + near + "'?)") << " (see agreid --help)\n";
  return agreid::kExitInput;
}

// "agreid run --config c.toml" (words as given; for the log file's header).
std::string commandLine(const std::vector<std::string>& words) {
  std::string line = "agreid";
  for (const auto& w : words) line += " " + w;
  return line;
}

int fail(const agreid::Log& log, int world_size, int code, const std::string& message) {
  log.error(message);
  if (world_size > 1) agreid::comm::MpiSession::abortAll(code);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  agreid::launch::ProcessEnv env;
  agreid::Log log;
  try {
    env = agreid::launch::ProcessEnv::fromEnvironment();
    env.probeTerminal();
    log =
        agreid::Log(env.rank, env.world_size,
                    agreid::launch::progressStyleFor(agreid::trainer::ProgressSetting::kAuto, env));
  } catch (const agreid::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return agreid::kExitInput;
  }
  const auto commands = agreid::launch::builtinCommands();
  if (words.empty()) {
    printUsage(commands, std::cerr);
    return agreid::kExitInput;
  }
  if (words[0] == "--help" || words[0] == "-h" || (words[0] == "help" && words.size() == 1)) {
    printUsage(commands, std::cout);
    return agreid::kExitOk;
  }
  if (words[0] == "help") {
    const CommandSpec* topic = findCommand(commands, words[1]);
    if (!topic) return unknownCommand(commands, words[1]);
    if (words.size() > 2) {
      std::cerr << "error: agreid help: unexpected argument '" << words[2] << "'\n";
      return agreid::kExitInput;
    }
    std::cout << agreid::launch::commandHelp(*topic);
    return agreid::kExitOk;
  }
  if (words[0] == "--version") {
    std::cout << agreid::launch::versionString() << "\n";
    return agreid::kExitOk;
  }
  const CommandSpec* command = findCommand(commands, words[0]);
  if (!command) return unknownCommand(commands, words[0]);
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  for (const auto& w : rest) {
    if (w == "--help" || w == "-h") {
      std::cout << agreid::launch::commandHelp(*command);
      return agreid::kExitOk;
    }
  }

  int world_size = env.world_size;
  // Outlives the try block: on an error with several ranks, fail() aborts the job through MPI
  // (finalising first would wait for ranks that may be stuck in a collective).
  std::unique_ptr<agreid::comm::MpiSession> mpi;
  try {
    agreid::launch::installStopHandlers();
    const auto parsed = agreid::launch::parseArgs(*command, rest);
    agreid::launch::CommandContext ctx{env, log, nullptr, commandLine(words)};
    if (command->uses_mpi) {
      mpi = std::make_unique<agreid::comm::MpiSession>();
      world_size = mpi->size();
      ctx.log = agreid::Log(
          mpi->rank(), mpi->size(),
          agreid::launch::progressStyleFor(agreid::trainer::ProgressSetting::kAuto, env));
      ctx.mpi = mpi.get();
      log = ctx.log;
    }
    return command->run(parsed, ctx);
  } catch (const agreid::InputError& e) {
    return fail(log, world_size, agreid::kExitInput, e.what());
  } catch (const agreid::StopRequested& e) {
    return fail(log, world_size, agreid::kExitSignalBase + e.signal(), e.what());
  } catch (const agreid::comm::CommError& e) {
    return fail(log, world_size > 1 ? world_size : 2, agreid::kExitComm,
                std::string("communication failure: ") + e.what() + " -- aborting all ranks");
  } catch (const c10::Error& e) {
    return fail(log, world_size, agreid::kExitInternal,
                std::string("internal error (LibTorch): ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(log, world_size, agreid::kExitInternal, std::string("internal error: ") + e.what());
  }
}
