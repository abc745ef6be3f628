// The agreid executable's help, version and config command, and their errors.
#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace agreid::testing {
namespace {

TEST(Cli, HelpListsCommands) {
  auto r = runAgreid({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: agreid <command>"), std::string::npos);
  EXPECT_NE(r.out.find("config"), std::string::npos);
}

TEST(Cli, NoArgumentsIsUsageError) {
  auto r = runAgreid({});
  EXPECT_EQ(r.exit_code, 2);
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

TEST(Cli, ConfigShowPrintsResolvedToml) {
  auto r = runAgreid({"config", "show", "--set", "stage2.lr=7e-06"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[stage2]"), std::string::npos);
  EXPECT_NE(r.out.find("lr = 7e-06"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("margin = 0.3"), std::string::npos);
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
