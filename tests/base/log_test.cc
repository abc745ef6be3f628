// Log: time stamps, rank prefixes, the shared output of copies, the log file (lines written
// before it was opened, file-only lines, never a '\r') and the status line.
#include "base/log.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "tests/base/console.h"
#include "tests/support/test_support.h"

namespace agreid {
namespace {

using testing::Console;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) out.push_back(line);
  return out;
}

const std::regex kStamp(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )");

TEST(LogTest, LinesCarryTimeStampsAndRankPrefixes) {
  Console single, multi;
  Log one(0, 1, ProgressStyle::kLines, single.streams());
  one.info("hello ", 42);
  one.warn("careful");
  one.error("broken");
  EXPECT_TRUE(
      std::regex_match(single.out(), std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d hello 42\n)")))
      << single.out();
  const auto err = lines(single.err());
  ASSERT_EQ(err.size(), 2u) << single.err();
  EXPECT_TRUE(std::regex_match(err[0], std::regex(R"(\S+ \S+ warning: careful)"))) << err[0];
  EXPECT_TRUE(std::regex_match(err[1], std::regex(R"(\S+ \S+ error: broken)"))) << err[1];

  Log rank1(1, 2, ProgressStyle::kBar, multi.streams());
  rank1.info("rank 1 says nothing");
  rank1.warn("but warns");
  EXPECT_EQ(multi.out(), "");
  EXPECT_TRUE(
      std::regex_match(multi.err(), std::regex(R"(\S+ \S+ \[rank 1/2\] warning: but warns\n)")))
      << multi.err();
  EXPECT_EQ(rank1.progressStyle(), ProgressStyle::kNone);  // only rank 0 shows progress
}

TEST(LogTest, CopiesShareTheOutput) {
  Console console;
  Log log(0, 1, ProgressStyle::kLines, console.streams());
  const Log copy = log;
  log.setProgressStyle(ProgressStyle::kBar);
  EXPECT_EQ(copy.progressStyle(), ProgressStyle::kBar);
  testing::TempDir dir;
  log.openFile(dir.file("log.txt"));
  copy.info("through the copy");
  EXPECT_NE(testing::readFile(dir.file("log.txt")).find("through the copy"), std::string::npos);
}

TEST(LogTest, FileGetsEarlierLinesHeaderAndFileOnlyLinesButNoStatus) {
  Console console;
  Log log(0, 1, ProgressStyle::kBar, console.streams());
  log.info("before the file");
  log.warn("an early warning");
  testing::TempDir dir;
  const std::string path = dir.file("run/log.txt");  // the folder is created
  log.openFile(path, "2026-01-01 00:00:00 agreid run --config c.toml");
  log.status("[#####] 50%");
  log.info("while the bar shows");
  log.fileOnly("step 5/10 (plain)");
  log.clearStatus();
  log.info("after");

  const auto file = lines(testing::readFile(path));
  ASSERT_EQ(file.size(), 6u) << testing::readFile(path);
  EXPECT_EQ(file[0], "2026-01-01 00:00:00 agreid run --config c.toml");
  const std::vector<std::string> tails = {"before the file", "warning: an early warning",
                                          "while the bar shows", "step 5/10 (plain)", "after"};
  for (size_t i = 0; i < tails.size(); ++i) {
    EXPECT_TRUE(std::regex_search(file[i + 1], kStamp)) << file[i + 1];
    EXPECT_EQ(file[i + 1].substr(file[i + 1].size() - tails[i].size()), tails[i]);
  }
  EXPECT_EQ(testing::readFile(path).find('\r'), std::string::npos);

  // The console: the bar drawn in place, the line written above it, the bar redrawn, then
  // removed; the file-only line never appears there.
  const std::string out = console.out();
  EXPECT_NE(out.find("\r[#####] 50%\x1b[K"), std::string::npos) << out;
  const size_t line = out.find("while the bar shows\n");
  ASSERT_NE(line, std::string::npos) << out;
  EXPECT_EQ(out.substr(line - 24, 5), "\r\x1b[K2") << out;  // cleared, then the time stamp
  EXPECT_EQ(out.find("\r[#####] 50%\x1b[K", line), line + 20) << out;  // redrawn below it
  EXPECT_EQ(out.find("(plain)"), std::string::npos) << out;
}

TEST(LogTest, StatusNeedsTheBarStyleAndRankZero) {
  Console lines_console, rank1_console;
  Log lines_log(0, 1, ProgressStyle::kLines, lines_console.streams());
  lines_log.status("bar");
  lines_log.clearStatus();
  EXPECT_EQ(lines_console.out(), "");
  Log rank1(1, 2, ProgressStyle::kBar, rank1_console.streams());
  rank1.status("bar");
  rank1.fileOnly("nothing");
  EXPECT_EQ(rank1_console.out(), "");
}

TEST(LogTest, OtherRanksNeverWriteTheFile) {
  testing::TempDir dir;
  Console console;
  Log rank1(1, 2, ProgressStyle::kLines, console.streams());
  rank1.openFile(dir.file("log.txt"));
  rank1.warn("a warning");
  EXPECT_FALSE(std::filesystem::exists(dir.file("log.txt")));
}

TEST(LogTest, UnopenableFileIsAnInputError) {
  testing::TempDir dir;
  testing::writeFile(dir.file("plain"), "x");
  Console console;
  Log log(0, 1, ProgressStyle::kNone, console.streams());
  EXPECT_THROW(log.openFile(dir.file("plain/log.txt")), InputError);
}

}  // namespace
}  // namespace agreid
