// The CMC plot: titled with the run (escaped, shortened), legend inside the image however long
// its lines, a curve per query set with valid queries.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>

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

}  // namespace
}  // namespace agreid::trainer
