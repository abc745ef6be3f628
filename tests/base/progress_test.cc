// Progress: the line (counts, percentage, rate, ETA), the cadence of plain lines, the bar with its
// plain lines in the log file, a resumed start, and silence on other ranks.
#include "base/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/base/console.h"
#include "tests/support/test_support.h"

namespace agreid {
namespace {

// A console and a clock the test advances.
struct Fixture {
  testing::Console console;
  Log log(ProgressStyle style, int rank = 0) const {
    return Log(rank, rank + 1, style, console.streams());
  }
  double now = 100.0;
  Progress::Clock clock() {
    return [this] { return now; };
  }
};

ProgressOptions steps(int64_t total, int64_t start = 0) {
  ProgressOptions o;
  o.label = "stage 2";
  o.total = total;
  o.unit = "steps";
  o.start = start;
  return o;
}

TEST(ProgressTest, DurationsAndTheLine) {
  EXPECT_EQ(Progress::formatDuration(65), "00:01:05");
  EXPECT_EQ(Progress::formatDuration(3 * 3600 + 7), "03:00:07");
  EXPECT_EQ(Progress::formatDuration(-1), "--:--:--");
  Fixture f;
  const Log log = f.log(ProgressStyle::kLines);
  Progress p(log, steps(100), f.clock());
  EXPECT_EQ(p.line(50, 2.0, "loss 0.5000"),
            "stage 2: 50/100 steps (50%), 2.00 steps/s, ETA 00:00:25, loss 0.5000");
  EXPECT_EQ(p.line(0, 0.0, ""), "stage 2: 0/100 steps (0%), 0.00 steps/s, ETA --:--:--");
  ProgressOptions unknown;
  unknown.label = "import";
  unknown.unit = "images";
  Progress q(log, unknown, f.clock());
  EXPECT_EQ(q.line(7, 3.5, ""), "import: 7 images, 3.50 images/s");
}

TEST(ProgressTest, PlainLinesAtEveryTenthOrAfterTheInterval) {
  Fixture f;
  const Log log = f.log(ProgressStyle::kLines);
  ProgressOptions o = steps(100);
  o.line_every_s = 30;
  Progress p(log, o, f.clock());
  for (int64_t i = 1; i <= 25; ++i) {  // 1 s per step: lines at 10 and 20
    f.now += 1;
    p.update(i);
  }
  f.now += 40;  // a slow step: the interval forces a line although no tenth was crossed
  p.update(26, "loss 1.0000");
  f.now += 1;
  p.update(27);  // nothing
  p.finish("done detail");
  const std::string text = f.console.out();
  EXPECT_EQ(testing::lineCount(text), 4) << text;
  EXPECT_NE(text.find("stage 2: 10/100 steps (10%), 1.00 steps/s, ETA 00:01:30\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("stage 2: 20/100 steps (20%), 1.00 steps/s, ETA 00:01:20\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("stage 2: 26/100 steps (26%), 0.40 steps/s, ETA 00:03:05, loss 1.0000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("stage 2: done, 27 steps in 00:01:06 (0.41 steps/s), done detail\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(ProgressTest, BarRedrawsInPlaceAndTheFileGetsPlainLines) {
  Fixture f;
  Log log = f.log(ProgressStyle::kBar);
  testing::TempDir dir;
  log.openFile(dir.file("log.txt"));
  {
    ProgressOptions o = steps(20);
    o.redraw_s = 0.5;
    Progress p(log, o, f.clock());
    for (int64_t i = 1; i <= 20; ++i) {
      f.now += 0.25;  // a redraw every other step
      p.update(i);
    }
    p.finish();
  }
  const std::string out = f.console.out();
  size_t redraws = 0;
  for (size_t at = out.find("\rstage 2: "); at != std::string::npos;
       at = out.find("\rstage 2: ", at + 1)) {
    ++redraws;
  }
  EXPECT_EQ(redraws, 10u) << out;  // the first update and every second one after it
  EXPECT_NE(out.find("\r\x1b[K"), std::string::npos) << out;  // cleared before the final line
  EXPECT_NE(out.find("stage 2: done, 20 steps in 00:00:05 (4.00 steps/s)\n"), std::string::npos)
      << out;
  const std::string file = testing::readFile(dir.file("log.txt"));
  EXPECT_EQ(file.find('\r'), std::string::npos) << file;
  EXPECT_EQ(testing::lineCount(file), 11) << file;  // one per tenth, and the final line
  EXPECT_NE(file.find("stage 2: 10/20 steps (50%), 4.00 steps/s, ETA 00:00:03\n"),
            std::string::npos)
      << file;
}

TEST(ProgressTest, ResumedStartCountsOnlyTheWorkDoneHere) {
  Fixture f;
  const Log log = f.log(ProgressStyle::kLines);
  Progress p(log, steps(100, 60), f.clock());
  f.now += 10;
  p.update(70);  // 10 steps in 10 s; the 70 % tenth is new
  p.finish();
  const std::string text = f.console.out();
  EXPECT_NE(text.find("stage 2: 70/100 steps (70%), 1.00 steps/s, ETA 00:00:30\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("stage 2: done, 10 steps in 00:00:10 (1.00 steps/s)\n"), std::string::npos)
      << text;
}

// A total learnt at the first report: the Progress starts then and finishes at the total.
TEST(ProgressTest, CallbackStartsAtTheFirstReportAndFinishesAtTheTotal) {
  Fixture f;
  const Log log = f.log(ProgressStyle::kLines);
  const auto report = progressCallback(log, "import", "images");
  EXPECT_EQ(f.console.out(), "");
  const auto copy = report;  // copies share the Progress
  for (int64_t i = 1; i <= 4; ++i) (i % 2 ? report : copy)(i, 4);
  const std::string text = f.console.out();
  EXPECT_EQ(testing::lineCount(text), 5) << text;  // 25 %, 50 %, 75 %, 100 %, done
  EXPECT_NE(text.find(" import: 2/4 images (50%), "), std::string::npos) << text;
  EXPECT_NE(text.find(" import: done, 4 images in "), std::string::npos) << text;
}

TEST(ProgressTest, SilentOnOtherRanksAndWithoutAStyle) {
  Fixture f;
  const Log rank1 = f.log(ProgressStyle::kBar, 1);
  const Log none = f.log(ProgressStyle::kNone);
  for (const Log* log : {&rank1, &none}) {
    Progress p(*log, steps(10), f.clock());
    for (int64_t i = 1; i <= 10; ++i) p.update(i);
    p.finish();
  }
  EXPECT_EQ(f.console.out(), "");
  EXPECT_EQ(f.console.err(), "");
}

}  // namespace
}  // namespace agreid
