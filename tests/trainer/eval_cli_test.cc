// `agreid eval`: outputs (results.json equal to the library's metrics, cmc.svg, ranked-list
// images with the right border colours), 2 MPI ranks == 1 rank, and bad inputs (one-line error,
// exit code 2, no output folder).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "data/dataset.h"
#include "data/jpeg_codec.h"
#include "tests/support/test_support.h"
#include "tests/trainer/eval_test_util.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;

// Query and gallery feature files whose `index` points into a dataset file of solid-colour
// images (query samples first, then gallery samples); `layout` is the dataset's name.
struct CliFixture {
  testing::TempDir tmp;
  testing::SyntheticEval data = testing::makeSyntheticEval({});
  std::string query = tmp.file("query.h5"), gallery = tmp.file("gallery.h5");
  std::string dataset = tmp.file("dataset.h5");

  explicit CliFixture(const std::string& layout = "eval-test") {
    data::DatasetWriter writer(dataset, {layout, "generated", {}, {}, 1 << 16});
    auto add = [&](FeatureSet& set, data::Split split) {
      for (int64_t i = 0; i < set.size(); ++i) {
        data::RgbImage img{16, 8, std::vector<uint8_t>(16 * 8 * 3, static_cast<uint8_t>(i * 7))};
        data::SampleRecord r;
        r.jpeg = data::encodeJpeg(img);
        r.pid = static_cast<int32_t>(set.pid[i]);
        r.camid = static_cast<int16_t>(set.camid[i]);
        r.split = split;
        r.path = "s" + std::to_string(writer.count()) + ".jpg";
        set.index[i] = writer.count();
        writer.add(r);
      }
    };
    add(data.query, data::Split::kQuery);
    add(data.gallery, data::Split::kGallery);
    const std::string checksum = writer.finish().checksum;
    data.query.info.dataset = data.gallery.info.dataset = dataset;
    data.query.info.dataset_checksum = data.gallery.info.dataset_checksum = checksum;
    writeFeaturesFile(query, data.query);
    writeFeaturesFile(gallery, data.gallery);
  }
};

double jsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\": ");
  if (at == std::string::npos) return NAN;
  return std::stod(json.substr(at + key.size() + 4));
}

TEST(EvalCommand, WritesResultsPlotAndRankedLists) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  const auto r =
      testing::runAgreid({"eval", "--features", f.query, "--gallery", f.gallery, "--out", out,
                          "--set", "eval.ranked_lists=3", "--set", "eval.block_size=5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| mAP |"), std::string::npos) << r.out;
  const std::string json = testing::readFile(out + "/results.json");
  EvalOptions o;
  const EvalResults expected = evaluate(f.data.query, f.data.gallery, o, nullptr);
  EXPECT_DOUBLE_EQ(jsonNumber(json, "mAP"), expected.all.map);
  EXPECT_DOUBLE_EQ(jsonNumber(json, "rank1"), expected.all.rank(1));
  EXPECT_DOUBLE_EQ(jsonNumber(json, "mINP"), expected.all.minp);
  EXPECT_EQ(jsonNumber(json, "num_valid_query"), expected.all.num_valid_query);
  EXPECT_EQ(jsonNumber(json, "num_gallery"), f.data.gallery.size());
  EXPECT_NE(json.find("\"occluded\": {"), std::string::npos);
  EXPECT_EQ(testing::expectPythonReadsJson({out + "/results.json"}), 1);
  const std::string svg = testing::readFile(out + "/cmc.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);

  // Three ranked lists; in each, the first gallery cell's border is green iff its pid matches.
  EvalOptions opts;
  EvaluateRequest request;
  request.record = {0, f.data.query.size() / 3, 2 * f.data.query.size() / 3};
  const EvalResults lists = evaluate(f.data.query, f.data.gallery, opts, nullptr, request);
  for (const RankedList& list : lists.ranked) {
    const std::string path = out + "/ranked/query_" + std::to_string(list.query) + ".jpg";
    ASSERT_TRUE(fs::exists(path)) << path;
    const std::string bytes = testing::readFile(path);
    const auto img =
        data::decodeJpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), path);
    // Cell layout of visualize.cc: gap 6, cells 72 wide (64 + 2 * 4 border), query, 3 gaps.
    const int x = 6 + 72 + 18 + 1, y = 6 + 40;
    const uint8_t* p = &img.pixels[(y * img.width + x) * 3];
    const bool same = f.data.gallery.pid[list.gallery[0]] == f.data.query.pid[list.query];
    EXPECT_GT(same ? p[1] : p[0], 120) << path;
    EXPECT_LT(same ? p[0] : p[1], 80) << path;
  }
  EXPECT_TRUE(fs::exists(out + "/ranked/index.md"));
}

TEST(EvalCommand, TwoMpiRanksWriteTheSameResults) {
  CliFixture f;
  const auto one = testing::runAgreid({"eval", "--features", f.query, "--gallery", f.gallery,
                                       "--out", f.tmp.file("one"), "--set", "eval.rerank=true",
                                       "--set", "eval.k1=8", "--set", "eval.k2=3"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = testing::runShell(
      "mpiexec -n 2 --oversubscribe " + testing::shellQuote(AGREID_BINARY) + " eval --features " +
      testing::shellQuote(f.query) + " --gallery " + testing::shellQuote(f.gallery) + " --out " +
      testing::shellQuote(f.tmp.file("two")) +
      " --set eval.rerank=true --set eval.k1=8 --set eval.k2=3 --set eval.block_size=3");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(testing::readFile(f.tmp.file("one") + "/results.json"),
            testing::readFile(f.tmp.file("two") + "/results.json"));
}

// Runs eval expecting exit 2, a one-line error containing every part, and no output folder.
void expectRefused(const std::vector<std::string>& args, const std::vector<std::string>& parts,
                   const std::string& out) {
  const auto r = testing::runAgreid(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
  for (const auto& p : parts) EXPECT_NE(r.err.find(p), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

// The table rows of ranked/index.md, in file order.
std::vector<std::string> indexRows(const std::string& out) {
  std::vector<std::string> rows;
  std::istringstream in(testing::readFile(out + "/ranked/index.md"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| query_", 0) == 0) rows.push_back(line);
  }
  return rows;
}

std::set<std::string> rankedImages(const std::string& out) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(out + "/ranked")) {
    if (e.path().extension() == ".jpg") names.insert(e.path().filename().string());
  }
  return names;
}

std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

TEST(EvalCommand, RankedListsOfTheWorstQueriesNameMarketCamerasFromOne) {
  CliFixture f("market1501");
  const std::string out = f.tmp.file("out");
  const auto r =
      testing::runAgreid({"eval", "--features", f.query, "--gallery", f.gallery, "--out", out,
                          "--set", "eval.ranked_queries=worst", "--set", "eval.ranked_lists=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EvaluateRequest worst;
  worst.record_worst = 3;
  const EvalResults want = evaluate(f.data.query, f.data.gallery, EvalOptions{}, nullptr, worst);
  ASSERT_EQ(want.ranked.size(), 3u);
  const auto rows = indexRows(out);
  ASSERT_EQ(rows.size(), 3u) << testing::readFile(out + "/ranked/index.md");
  std::set<std::string> images;
  for (size_t i = 0; i < rows.size(); ++i) {
    const RankedList& l = want.ranked[i];
    const int64_t q = l.query, g = l.gallery[0];
    const std::string image = "query_" + std::to_string(q) + ".jpg";
    images.insert(image);
    // Worst first, AP shown; Market cameras c1..c6 for the query and the gallery items.
    EXPECT_EQ(rows[i].rfind("| " + image + " | " + std::to_string(f.data.query.pid[q]) + "/c" +
                                std::to_string(f.data.query.camid[q] + 1) + " (" +
                                std::to_string(f.data.query.index[q]) + ") | " + fixed4(l.ap) +
                                " | " + std::to_string(f.data.gallery.pid[g]) + "/c" +
                                std::to_string(f.data.gallery.camid[g] + 1) + " ",
                            0),
              0u)
        << rows[i];
  }
  EXPECT_LE(want.ranked[0].ap, want.ranked[2].ap);
  EXPECT_EQ(rankedImages(out), images);
}

TEST(EvalCommand, RankedListsOfFirstRowsGivenRowsAndPids) {
  CliFixture f;  // a layout without camera numbers of its own: cameras as stored, from 0
  const auto eval = [&](const std::string& out, const std::vector<std::string>& sets) {
    std::vector<std::string> args = {"eval",    "--features", f.query, "--gallery",
                                     f.gallery, "--out",      out};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    const auto r = testing::runAgreid(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return rankedImages(out);
  };
  EXPECT_EQ(eval(f.tmp.file("first"), {"eval.ranked_queries=first", "eval.ranked_lists=2"}),
            (std::set<std::string>{"query_0.jpg", "query_1.jpg"}));
  EXPECT_EQ(eval(f.tmp.file("rows"), {"eval.ranked_queries=rows", "eval.ranked_ids=[5, 1]"}),
            (std::set<std::string>{"query_1.jpg", "query_5.jpg"}));
  const auto rows = indexRows(f.tmp.file("rows"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].rfind("| query_1.jpg | " + std::to_string(f.data.query.pid[1]) + "/" +
                              std::to_string(f.data.query.camid[1]) + " (",
                          0),
            0u)
      << rows[0];
  const int64_t pid = f.data.query.pid[4];
  std::set<std::string> of_pid;
  for (int64_t q = 0; q < f.data.query.size(); ++q) {
    if (f.data.query.pid[q] == pid) of_pid.insert("query_" + std::to_string(q) + ".jpg");
  }
  EXPECT_EQ(eval(f.tmp.file("pids"),
                 {"eval.ranked_queries=pids", "eval.ranked_ids=[" + std::to_string(pid) + "]"}),
            of_pid);
}

TEST(EvalCommand, RankedListChoiceErrors) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  const auto with = [&](const std::vector<std::string>& sets) {
    std::vector<std::string> args = {"eval",    "--features", f.query, "--gallery",
                                     f.gallery, "--out",      out};
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    return args;
  };
  expectRefused(with({"eval.ranked_queries=rows", "eval.ranked_ids=[1, 9999]"}),
                {"eval.ranked_ids: query row 9999 is outside the query set (rows 0.."}, out);
  expectRefused(with({"eval.ranked_queries=pids", "eval.ranked_ids=[987654]"}),
                {"eval.ranked_ids: no query has person id 987654"}, out);
  expectRefused(with({"eval.ranked_queries=rows"}),
                {"key 'eval.ranked_ids' is empty, but eval.ranked_queries = \"rows\""}, out);
  expectRefused(with({"eval.ranked_ids=[3]"}),
                {"key 'eval.ranked_ids' is set, but eval.ranked_queries = \"spread\""}, out);
  expectRefused(with({"eval.ranked_queries=rows", "eval.ranked_ids=[-1]"}),
                {"key 'eval.ranked_ids' holds -1"}, out);
  expectRefused(with({"eval.ranked_queries=best"}),
                {"eval.ranked_queries", "spread, first, worst, rows, pids"}, out);
}

TEST(EvalCommand, BadInputs) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  FeatureSet narrow = f.data.gallery;
  narrow.features = narrow.features.slice(1, 0, 8).contiguous();
  const std::string narrow_path = f.tmp.file("narrow.h5");
  writeFeaturesFile(narrow_path, narrow);
  expectRefused({"eval", "--features", f.query, "--gallery", narrow_path, "--out", out},
                {"query.h5 has 16-d", "narrow.h5 has 8-d"}, out);
  expectRefused({"eval", "--features", f.tmp.file("nope.h5"), "--gallery", f.gallery, "--out", out},
                {"nope.h5: features file not found"}, out);
  FeatureSet empty = f.data.query;
  empty.features = at::zeros({0, 16}, at::kFloat);
  empty.pid.clear();
  empty.camid.clear();
  empty.index.clear();
  empty.occluded.clear();
  const std::string empty_path = f.tmp.file("empty.h5");
  writeFeaturesFile(empty_path, empty);
  expectRefused({"eval", "--features", empty_path, "--gallery", f.gallery, "--out", out},
                {"empty.h5: the query features file has no rows"}, out);
  expectRefused({"eval", "--features", f.query, "--gallery", f.gallery, "--out", out, "--set",
                 "eval.rerank=true", "--set", "eval.rerank_max_samples=10"},
                {"eval.rerank_max_samples = 10"}, out);

  FeatureSet nan = f.data.query;
  nan.features = nan.features.clone();
  nan.features[2][3] = NAN;
  const std::string nan_path = f.tmp.file("nan.h5");
  writeFeaturesFile(nan_path, nan);
  expectRefused({"eval", "--features", nan_path, "--gallery", f.gallery, "--out", out},
                {"nan.h5: dataset 'features' holds a non-finite value", "row 2, column 3"}, out);
  expectRefused({"eval", "--features", f.query, "--gallery", f.query, "--out", out},
                {"--features and --gallery name the same file"}, out);
  expectRefused({"eval", "--checkpoint", f.tmp.file("model.pt"), "--features", f.query, "--data",
                 f.dataset, "--out", out},
                {"--features does not apply with --checkpoint"}, out);
}

TEST(EvalCommand, FeaturesOfAnotherDatasetVersionWriteNothing) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  FeatureSet query = f.data.query;
  query.info.dataset_checksum = "0123456789abcdef";
  const std::string query_path = f.tmp.file("query_old.h5");
  writeFeaturesFile(query_path, query);
  expectRefused(
      {"eval", "--features", query_path, "--gallery", f.gallery, "--out", out, "--set",
       "eval.ranked_lists=3"},
      {"dataset.h5: dataset checksum", "differs from 0123456789abcdef recorded in", "query_old.h5"},
      out);
}

TEST(EvalCommand, FailureWhileWritingLeavesNoResults) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  // A dataset of the same samples whose images do not decode, and features recording it: the
  // ranked lists fail.
  const std::string broken = f.tmp.file("broken.h5");
  FeatureSet query = f.data.query, gallery = f.data.gallery;
  {
    data::DatasetWriter writer(broken, {"eval-test", "generated", {}, {}, 1 << 16});
    const data::DatasetReader good(f.dataset);
    for (int64_t i = 0; i < good.size(); ++i) {
      data::SampleRecord r;
      r.jpeg = {0xff, 0xd8, 0xff, 0x00};
      r.pid = good.samples().pid[i];
      r.camid = good.samples().camid[i];
      r.split = static_cast<data::Split>(good.samples().split[i]);
      r.path = good.samples().path[i];
      writer.add(r);
    }
    query.info.dataset = gallery.info.dataset = broken;
    query.info.dataset_checksum = gallery.info.dataset_checksum = writer.finish().checksum;
  }
  writeFeaturesFile(f.tmp.file("bq.h5"), query);
  writeFeaturesFile(f.tmp.file("bg.h5"), gallery);
  const auto r =
      testing::runAgreid({"eval", "--features", f.tmp.file("bq.h5"), "--gallery",
                          f.tmp.file("bg.h5"), "--out", out, "--set", "eval.ranked_lists=3"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("not a valid JPEG"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out + "/results.json"));
  EXPECT_FALSE(fs::exists(out + "/cmc.svg"));
  EXPECT_FALSE(fs::exists(out + "/ranked"));
}

TEST(EvalCommand, SigtermStopsWithoutOutputs) {
  CliFixture f;
  const std::string out = f.tmp.file("out");
  const auto r = testing::runAgreidWithPendingSignal(
      {"eval", "--features", f.query, "--gallery", f.gallery, "--out", out}, SIGTERM);
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_EQ(testing::lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("agreid eval: stopped by SIGTERM"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace agreid::trainer
