// The CMC plot: titled with the run (escaped, shortened), legend inside the image however long
// its lines, a curve per query set with valid queries. Which queries get ranked lists, and the
// camera names they show.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

#include "base/error.h"
#include "data/importers.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/visualize.h"

namespace agreid::trainer {
namespace {

RankingMetrics metrics(double map, int64_t valid) {
  RankingMetrics m;
  m.map = map;
  m.minp = map / 2;
  m.num_query = 10;
  m.num_valid_query = valid;
  for (int k = 0; k < 50; ++k) m.cmc.push_back(std::min(1.0, 0.555 + 0.01 * k));
  return m;
}

double attr(const std::string& element, const std::string& name) {
  std::smatch m;
  const std::regex re(" " + name + "=\"([-0-9.]+)\"");
  EXPECT_TRUE(std::regex_search(element, m, re)) << name << " in " << element;
  return std::stod(m[1]);
}

TEST(CmcSvg, TitleNamesTheRunAndLegendStaysInside) {
  EvalResults r;
  r.all = metrics(0.6543, 10);
  r.holistic = metrics(0.7777, 6);
  r.occluded = metrics(0.4444, 4);
  const std::string run = "runs/sweeps/" + std::string(80, 'x') + "/ag-reid <seed & 1>";
  const std::string svg = cmcSvg(r, run);
  EXPECT_NE(svg.find("CMC curve: ...x"), std::string::npos);
  EXPECT_NE(svg.find("/ag-reid &lt;seed &amp; 1&gt;</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("<seed"), std::string::npos);
  EXPECT_NE(svg.find("occluded: R1 55.5, mAP 44.4"), std::string::npos);
  // The legend frame is inside the 640 px image and wide enough for 7 px per character.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("<rect x=[^>]*stroke=\"#999\"/>")));
  const std::string frame = m.str();
  const double x = attr(frame, "x"), w = attr(frame, "width");
  EXPECT_GE(x, 70);
  EXPECT_LE(x + w, 640 - 20);
  EXPECT_GE(w, 7.0 * std::string("holistic: R1 55.5, mAP 77.8").size());
  size_t curves = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++curves;
  EXPECT_EQ(curves, 3u);
}

TEST(CmcSvg, UntitledAndWithoutValidQueries) {
  EvalResults r;
  r.all = metrics(0.5, 10);
  r.occluded = metrics(0.0, 0);
  const std::string svg = cmcSvg(r);
  EXPECT_NE(svg.find(">CMC curve</text>"), std::string::npos);
  EXPECT_NE(svg.find("occluded: no valid query"), std::string::npos);
  size_t curves = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++curves;
  EXPECT_EQ(curves, 1u);
}

TEST(RankedListRequest, EachChoiceOfQueries) {
  const auto data = testing::makeSyntheticEval({});
  const int64_t rows = data.query.size();
  EvalOptions o;
  o.ranked_lists = 4;
  EXPECT_EQ(rankedListRequest(data.query, o).record,
            (std::vector<int64_t>{0, rows / 4, rows / 2, 3 * rows / 4}));  // "spread"
  o.ranked_queries = "first";
  EXPECT_EQ(rankedListRequest(data.query, o).record, (std::vector<int64_t>{0, 1, 2, 3}));
  o.ranked_lists = rows + 10;
  EXPECT_EQ(static_cast<int64_t>(rankedListRequest(data.query, o).record.size()), rows);
  o.ranked_lists = 4;
  o.ranked_queries = "worst";
  EvaluateRequest r = rankedListRequest(data.query, o);
  EXPECT_TRUE(r.record.empty());
  EXPECT_EQ(r.record_worst, 4);
  o.ranked_queries = "rows";
  o.ranked_ids = {7, 2, 7};
  EXPECT_EQ(rankedListRequest(data.query, o).record, (std::vector<int64_t>{2, 7}));
  o.ranked_queries = "pids";
  o.ranked_ids = {data.query.pid[3]};
  std::vector<int64_t> of_pid;
  for (int64_t q = 0; q < rows; ++q) {
    if (data.query.pid[q] == data.query.pid[3]) of_pid.push_back(q);
  }
  EXPECT_GE(of_pid.size(), 2u);
  EXPECT_EQ(rankedListRequest(data.query, o).record, of_pid);

  o.ranked_queries = "rows";
  o.ranked_ids = {1, rows};
  EXPECT_EQ(testing::inputErrorOf([&] { rankedListRequest(data.query, o); }),
            "eval.ranked_ids: query row " + std::to_string(rows) +
                " is outside the query set (rows 0.." + std::to_string(rows - 1) + ")");
  o.ranked_queries = "pids";
  o.ranked_ids = {data.query.pid[0], 987654};
  EXPECT_EQ(testing::inputErrorOf([&] { rankedListRequest(data.query, o); }),
            "eval.ranked_ids: no query has person id 987654");
}

TEST(CameraName, OneBasedWhereTheLayoutNumbersCamerasFromOne) {
  EXPECT_EQ(data::cameraName("market1501", 0), "c1");
  EXPECT_EQ(data::cameraName("market1501", 5), "c6");
  EXPECT_EQ(data::cameraName("dukemtmc", 7), "c8");
  EXPECT_EQ(data::cameraName("occluded-duke", 2), "c3");
  EXPECT_EQ(data::cameraName("msmt17", 14), "c15");
  EXPECT_EQ(data::cameraName("synthetic-reid", 3), "c4");  // its paths read .../0001_c4s1_...
  // Layouts whose cameras have no numbers of their own keep agreid's 0-based camid.
  EXPECT_EQ(data::cameraName("csv", 0), "0");
  EXPECT_EQ(data::cameraName("occluded-reid", 1), "1");
  EXPECT_EQ(data::cameraName("p-dukemtmc", 0), "0");
  EXPECT_EQ(data::cameraName("synthetic-pretrain", 3), "3");
}

}  // namespace
}  // namespace agreid::trainer
