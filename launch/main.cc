// agreid: distributed training for occluded person re-identification.
//
// main() reads the process environment once, dispatches to a subcommand, and turns every escaped
// error into one log line and an exit code (docs/errors.md). With several ranks any error aborts
// the whole job so that no rank is left waiting in a collective.
#include <c10/util/Exception.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "comm/comm_error.h"
#include "comm/mpi_session.h"
#include "launch/commands.h"
#include "launch/signals.h"
#include "launch/version.h"

namespace {

using agreid::launch::CommandSpec;

void printUsage(const std::vector<CommandSpec>& commands) {
  std::cout << "usage: agreid <command> [options]\n"
               "       agreid --version\n\n"
               "Distributed training for occluded person re-identification (AG-ReID).\n\n"
               "commands:\n";
  for (const auto& c : commands) {
    std::string name = "  " + c.name;
    name.resize(16, ' ');
    std::cout << name << c.summary << "\n";
  }
  std::cout << "\nRun 'agreid <command> --help' for a command's options.\n";
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
    log = agreid::Log(env.rank, env.world_size);
  } catch (const agreid::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return agreid::kExitInput;
  }
  const auto commands = agreid::launch::builtinCommands();
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    printUsage(commands);
    return words.empty() ? agreid::kExitInput : agreid::kExitOk;
  }
  if (words[0] == "--version") {
    std::cout << agreid::launch::versionString() << "\n";
    return agreid::kExitOk;
  }
  const CommandSpec* command = nullptr;
  for (const auto& c : commands)
    if (c.name == words[0]) command = &c;
  if (!command) {
    std::cerr << "error: unknown command '" << words[0] << "' (see agreid --help)\n";
    return agreid::kExitInput;
  }
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
    agreid::launch::CommandContext ctx{env, log, nullptr};
    if (command->uses_mpi) {
      mpi = std::make_unique<agreid::comm::MpiSession>();
      world_size = mpi->size();
      ctx.log = agreid::Log(mpi->rank(), mpi->size());
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
