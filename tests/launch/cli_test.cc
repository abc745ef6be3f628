// The agreid executable's help, version and config command, and their errors.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

TEST(Cli, HelpListsCommands) {
  auto r = runAgreid({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: agreid <command>"), std::string::npos);
  EXPECT_NE(r.out.find("config"), std::string::npos);
}

TEST(Cli, NoArgumentsIsUsageErrorOnStderr) {
  auto r = runAgreid({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("usage: agreid <command>"), std::string::npos) << r.err;
}

TEST(Cli, TopLevelHelpListsExitCodes) {
  const auto r = runAgreid({"--help"});
  for (const char* line : {"  0   success", "  2   bad input", "  3   communication",
                           "  75  stopped on request", "agreid help <command>"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
}

TEST(Cli, HelpCommandPrintsTheCommandsHelp) {
  auto r = runAgreid({"help", "run"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, runAgreid({"run", "--help"}).out);
  EXPECT_EQ(r.out.rfind("usage: agreid run", 0), 0u) << r.out;
  r = runAgreid({"help", "rnu"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'rnu' (did you mean 'run'?)"), std::string::npos) << r.err;
}

TEST(Cli, MistypedCommandAndOptionGetSuggestions) {
  auto r = runAgreid({"confg", "show"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("unknown command 'confg' (did you mean 'config'?)"), std::string::npos)
      << r.err;
  r = runAgreid({"config", "show", "--sett", "stage2.lr=1e-5"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("unknown option '--sett' (did you mean '--set'?)"), std::string::npos)
      << r.err;
}

TEST(Cli, ExtraPositionalArgumentsAreNamed) {
  auto r = runAgreid({"run", "tiny.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("agreid run: unexpected argument 'tiny.toml' (did you mean --config "
                       "tiny.toml?)"),
            std::string::npos)
      << r.err;
  r = runAgreid({"config", "show", "extra"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("agreid config: unexpected argument 'extra' (usage: "), std::string::npos)
      << r.err;
}

TEST(Cli, SingleProcessErrorsHaveATimeStampAndNoRankPrefix) {
  const auto r = runAgreid({"config", "show", "--set", "stage2.lr=oops"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(std::regex_search(r.err, std::regex(R"(^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d error: )")))
      << r.err;
}

TEST(Cli, CommandHelpIsAligned) {
  const auto r = runAgreid({"help", "prompt"});
  ASSERT_EQ(r.exit_code, 0);
  const size_t options = r.out.find("\noptions:\n");
  ASSERT_NE(options, std::string::npos) << r.out;
  // Every option's help text starts in the same column.
  std::istringstream lines(r.out.substr(options + 10));
  std::string line;
  size_t column = std::string::npos;
  while (std::getline(lines, line)) {
    if (line.rfind("  --", 0) != 0) continue;
    const size_t gap = line.find("  ", 4);
    ASSERT_NE(gap, std::string::npos) << line;
    const size_t text = line.find_first_not_of(' ', gap);
    if (column == std::string::npos) column = text;
    EXPECT_EQ(text, column) << line;
  }
  EXPECT_NE(column, std::string::npos);
}

TEST(Cli, Version) {
  auto r = runAgreid({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("agreid ", 0), 0u) << r.out;
}

TEST(Cli, CommandHelp) {
  auto r = runAgreid({"config", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--set"), std::string::npos);
}

TEST(Cli, UnknownCommand) {
  auto r = runAgreid({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

// The lines of section `name` ("[eval]") of a TOML text.
std::string section(const std::string& toml, const std::string& name) {
  const size_t begin = toml.find("[" + name + "]\n");
  if (begin == std::string::npos) return "";
  const size_t end = toml.find("\n[", begin + 1);
  return toml.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(Cli, ConfigShowPrintsResolvedToml) {
  auto r = runAgreid({"config", "show", "--set", "stage2.lr=7e-06"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[stage2]"), std::string::npos);
  EXPECT_NE(r.out.find("lr = 7e-06"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("margin = 0.3"), std::string::npos);
  // The defaults that follow other keys, resolved once (an explicit value stays).
  r = runAgreid({"config", "show", "--set", "run.out_dir=/r/x", "--set", "run.dataset=/d/a.h5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(section(r.out, "pretrain").find("\nout = '/r/x/clip.pt'"), std::string::npos) << r.out;
  EXPECT_NE(section(r.out, "stage1").find("\ncache_dir = '/r/x/cache'"), std::string::npos)
      << r.out;
  EXPECT_NE(section(r.out, "eval").find("\ndataset = '/d/a.h5'"), std::string::npos) << r.out;
  r = runAgreid({"config", "show", "--set", "run.dataset=/d/a.h5", "--set", "eval.dataset=/d/b.h5",
                 "--set", "pretrain.out=/p/c.pt"});
  EXPECT_NE(section(r.out, "eval").find("\ndataset = '/d/b.h5'"), std::string::npos) << r.out;
  EXPECT_NE(section(r.out, "pretrain").find("\nout = '/p/c.pt'"), std::string::npos) << r.out;
}

TEST(Cli, ConfigErrorsAreOneLineWithExitCode2) {
  TempDir dir;
  writeFile(dir.file("bad.toml"), "[stage2]\nmargn = 1\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"config", "show", "--config", dir.file("bad.toml")},
           {"config", "show", "--config", dir.file("missing.toml")},
           {"config", "show", "--set", "nodot=1"},
           {"config", "show", "--bogus"},
       }) {
    auto r = runAgreid(args);
    EXPECT_EQ(r.exit_code, 2) << args.back();
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace agreid::testing
