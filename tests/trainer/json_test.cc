// JSON through nlohmann-json (trainer/util/json.h): what the reader refuses, and that what the
// writers put in files -- results.json, metrics.jsonl, texts with non-finite numbers and awkward
// strings -- is read by Python's json module as strict JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/engine/metrics_writers.h"
#include "trainer/eval/results.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ParseJson, RefusesWhatIsNotJsonInOneLineNamingTheFile) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"a": NaN})", "f.json: malformed JSON at byte 7 (syntax error while parsing value"},
      {R"({"a": Infinity})", "f.json: malformed JSON at byte"},
      {R"({"a": 1, // note
          "b": 2})",
       "f.json: malformed JSON at byte"},
      {R"({"a": 1,})", "f.json: malformed JSON at byte 9"},
      {R"({"a": 1} x)", "f.json: malformed JSON at byte"},
      {R"({"a": {"b": 1, "b": 2}})", "f.json: malformed JSON (key 'b' appears twice"},
      {R"({"a": 1e999})", "f.json: malformed JSON (number overflow"},
      {std::string(65, '[') + std::string(65, ']'), "nested deeper than 64 levels"},
      {"", "f.json: malformed JSON at byte 1"},
      {"\"\xff\"", "f.json: malformed JSON at byte"},
  };
  for (const auto& c : cases) {
    const std::string& text = c.first;  // a plain reference: clang 14 cannot capture bindings
    const std::string& want = c.second;
    const std::string got = testing::inputErrorOf([&] { parseJson(text, "f.json"); });
    EXPECT_NE(got.find(want), std::string::npos) << text << "\n -> " << got;
  }
  // What is allowed: the same key in different objects, nesting up to 64 levels, white space.
  const Json ok = parseJson(" {\"a\": {\"b\": 1}, \"c\": {\"b\": 2}} \n", "f.json");
  EXPECT_EQ(ok["c"]["b"], 2);
  EXPECT_NO_THROW(parseJson(std::string(64, '[') + std::string(64, ']'), "f.json"));
}

TEST(ParseJson, MembersAndIntegers) {
  const Json j = parseJson(
      R"({"n": 3, "f": 3.0, "neg": -5, "big": 9223372036854775808, "s": "3", "max": 9223372036854775807})",
      "f.json");
  EXPECT_EQ(jsonInt64(*jsonMember(j, "n")), 3);
  EXPECT_EQ(jsonInt64(*jsonMember(j, "neg")), -5);
  EXPECT_EQ(jsonInt64(*jsonMember(j, "max")), std::numeric_limits<int64_t>::max());
  EXPECT_FALSE(jsonInt64(*jsonMember(j, "f")));    // 3.0 is written as a float
  EXPECT_FALSE(jsonInt64(*jsonMember(j, "big")));  // beyond int64
  EXPECT_FALSE(jsonInt64(*jsonMember(j, "s")));
  EXPECT_EQ(jsonMember(j, "absent"), nullptr);
  EXPECT_EQ(jsonMember(j["n"], "n"), nullptr);  // not an object
}

TEST(JsonText, NonFiniteNumbersAreNullAndBadUtf8IsReplaced) {
  OrderedJson j;
  j["z"] = kNaN;
  j["a"] = -kInf;
  j["path"] = std::string("runs/\"q\"\n/\xff.h5");
  j["list"] = std::vector<double>{1.5, kInf};
  EXPECT_EQ(jsonText(j),
            "{\"z\":null,\"a\":null,\"path\":\"runs/\\\"q\\\"\\n/\xef\xbf\xbd.h5\","
            "\"list\":[1.5,null]}");
  const Json back = parseJson(jsonText(j, 2), "text");
  EXPECT_TRUE(back["z"].is_null());
  EXPECT_EQ(back["path"], "runs/\"q\"\n/\xef\xbf\xbd.h5");
}

// Files as the writers leave them, read by Python's json module (strict: NaN refused).
TEST(JsonFiles, PythonReadsResultsAndMetricsWithUndefinedValues) {
  testing::TempDir dir;
  EvalResults r;
  r.all.map = 0.5;
  r.all.minp = 0.25;
  r.all.cmc = {0.5, 0.75};  // rank10 and rank20 lie beyond max_rank: NaN
  r.all.num_query = 4;
  r.all.num_valid_query = 2;
  RankingMetrics none;  // no valid query: every rate NaN
  none.map = none.minp = kNaN;
  none.cmc = {kNaN, kNaN};
  none.num_query = 1;
  r.holistic = r.all;
  r.occluded = none;
  r.num_gallery = 9;
  writeResultsJson(dir.file("results.json"), r);
  const std::string text = testing::readFile(dir.file("results.json"));
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
  const Json back = parseJson(text, "results.json");
  EXPECT_EQ(back["mAP"], 0.5);
  EXPECT_TRUE(back["rank10"].is_null());
  EXPECT_TRUE(back["subsets"]["occluded"]["mAP"].is_null());
  EXPECT_EQ(back["num_gallery"], 9);
  EXPECT_EQ(back["reranked"], false);
  std::vector<std::string> keys;
  const OrderedJson ordered = OrderedJson::parse(text);
  for (const auto& item : ordered.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"mAP", "rank1", "rank5", "rank10", "rank20", "mINP",
                                            "num_query", "num_valid_query", "cmc", "num_gallery",
                                            "reranked", "subsets"}));

  {
    JsonlWriter w(dir.file("metrics.jsonl"));
    MetricsRecord m;
    m.stage = "stage\"1\"\n";
    m.step = 1;
    m.loss = kNaN;
    m.lr = kInf;
    m.terms = {{"id", -kInf}, {"tri\xff", 0.5}};
    w.write(m);
    m.loss = 1.0;
    w.write(m);
  }
  EXPECT_EQ(testing::expectPythonReadsJson({dir.file("results.json"), dir.file("metrics.jsonl")}),
            3);
}

// The checker refuses what Python's json accepts by default but JSON does not allow.
TEST(JsonFiles, ThePythonCheckerRefusesNanAndRepeatedKeys) {
  testing::TempDir dir;
  testing::writeFile(dir.file("nan.json"), "{\"mAP\": NaN}");
  testing::writeFile(dir.file("twice.jsonl"), "{\"a\": 1}\n{\"a\": 1, \"a\": 2}\n");
  const auto r = testing::runPythonScript("tests/support/check_json.py",
                                          {dir.file("nan.json"), dir.file("twice.jsonl")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("nan.json: NaN is not JSON"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("twice.jsonl:2: key 'a' appears twice"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 documents in 2 files"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace agreid::trainer
