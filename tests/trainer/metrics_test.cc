// Metric writers: CRC-32C, the TensorBoard event file read back by a C++ parser and by an
// independent Python reader, metrics.jsonl lines, progress lines.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/engine/metrics_hook.h"
#include "trainer/engine/metrics_writers.h"
#include "trainer/eval/results.h"

namespace agreid::trainer {
namespace {

namespace fs = std::filesystem;

// A minimal protobuf + TFRecord reader for the fields agreid writes.
struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::map<std::string, float> scalars;
};

uint64_t readVarint(const std::string& b, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    const auto c = static_cast<unsigned char>(b.at(pos++));
    v |= static_cast<uint64_t>(c & 0x7F) << shift;
    if (!(c & 0x80)) return v;
  }
}

template <typename Fn>
void forEachField(const std::string& b, Fn&& fn) {
  size_t pos = 0;
  while (pos < b.size()) {
    const uint64_t key = readVarint(b, pos);
    const int field = static_cast<int>(key >> 3), wire = static_cast<int>(key & 7);
    std::string value;
    uint64_t varint = 0;
    if (wire == 0) {
      varint = readVarint(b, pos);
    } else if (wire == 1 || wire == 5) {
      const size_t n = wire == 1 ? 8 : 4;
      value = b.substr(pos, n);
      pos += n;
    } else if (wire == 2) {
      const size_t n = readVarint(b, pos);
      value = b.substr(pos, n);
      pos += n;
    } else {
      FAIL() << "wire type " << wire;
    }
    fn(field, value, varint);
  }
}

Event parseEvent(const std::string& data) {
  Event e;
  forEachField(data, [&](int field, const std::string& v, uint64_t varint) {
    if (field == 1) std::memcpy(&e.wall_time, v.data(), 8);
    if (field == 2) e.step = static_cast<int64_t>(varint);
    if (field == 3) e.file_version = v;
    if (field == 5) {
      forEachField(v, [&](int sfield, const std::string& value, uint64_t) {
        if (sfield != 1) return;
        std::string tag;
        float simple = 0;
        forEachField(value, [&](int vfield, const std::string& x, uint64_t) {
          if (vfield == 1) tag = x;
          if (vfield == 2) std::memcpy(&simple, x.data(), 4);
        });
        e.scalars[tag] = simple;
      });
    }
  });
  return e;
}

std::vector<Event> readEventFile(const std::string& path) {
  const std::string buf = testing::readFile(path);
  std::vector<Event> events;
  size_t pos = 0;
  while (pos < buf.size()) {
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, buf.data() + pos, 8);
    std::memcpy(&length_crc, buf.data() + pos + 8, 4);
    EXPECT_EQ(length_crc, maskedCrc32c(buf.data() + pos, 8));
    const std::string data = buf.substr(pos + 12, length);
    std::memcpy(&data_crc, buf.data() + pos + 12 + length, 4);
    EXPECT_EQ(data_crc, maskedCrc32c(data.data(), data.size()));
    events.push_back(parseEvent(data));
    pos += 16 + length;
  }
  EXPECT_EQ(pos, buf.size());
  return events;
}

TEST(Crc32cTest, KnownVectors) {
  // RFC 3720 B.4 / the standard check value
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

std::string writeSampleEvents(const testing::TempDir& dir) {
  EventFileWriter writer(dir.file("tb"));
  writer.addScalars(1, 1000.5, {{"train/loss", 2.5}, {"train/lr", 0.375}});
  writer.addScalars(300, 1001.25, {{"train/loss", 0.125}});
  writer.flush();
  return writer.path();
}

TEST(EventFileWriterTest, ReadsBackInCpp) {
  testing::TempDir dir;
  const std::string path = writeSampleEvents(dir);
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);
  const auto events = readEventFile(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_EQ(events[1].step, 1);
  EXPECT_DOUBLE_EQ(events[1].wall_time, 1000.5);
  EXPECT_FLOAT_EQ(events[1].scalars.at("train/loss"), 2.5f);
  EXPECT_FLOAT_EQ(events[1].scalars.at("train/lr"), 0.375f);
  EXPECT_EQ(events[2].step, 300);  // a multi-byte varint
  EXPECT_FLOAT_EQ(events[2].scalars.at("train/loss"), 0.125f);
}

TEST(EventFileWriterTest, ReadsBackInPython) {
  if (!testing::havePythonTorch()) GTEST_SKIP() << "Debian's python3 not found";
  testing::TempDir dir;
  const std::string path = writeSampleEvents(dir);
  const auto r =
      testing::runShell(testing::shellQuote(AGREID_PYTHON) + " " +
                        testing::shellQuote(std::string(AGREID_SOURCE_DIR) +
                                            "/tests/trainer/reference/tfevents_read.py") +
                        " " + testing::shellQuote(path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::lineCount(r.out), 4) << r.out;
  EXPECT_NE(r.out.find("\"file_version\": \"brain.Event:2\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"scalars\": {\"train/loss\": 2.5, \"train/lr\": 0.375}"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"scalars\": {\"train/loss\": 0.125}, \"step\": 300"), std::string::npos)
      << r.out;
}

TEST(JsonlWriterTest, OneObjectPerLineAppended) {
  testing::TempDir dir;
  MetricsRecord r;
  r.step = 10;
  r.epoch = 1;
  r.lr = 5e-6;
  r.loss = 1.25;
  r.images_per_s = 100;
  r.terms = {{"id", 0.5}, {"tri", 0.75}};
  {
    JsonlWriter w(dir.file("metrics.jsonl"));
    w.write(r);
  }
  {
    JsonlWriter w(dir.file("metrics.jsonl"));
    r.step = 20;
    r.loss = std::nan("");
    w.write(r);
  }
  EXPECT_EQ(testing::readFile(dir.file("metrics.jsonl")),
            "{\"step\":10,\"epoch\":1,\"lr\":5e-06,\"loss\":1.25,"
            "\"images_per_s\":100.0,\"terms\":{\"id\":0.5,\"tri\":0.75}}\n"
            "{\"step\":20,\"epoch\":1,\"lr\":5e-06,\"loss\":null,"
            "\"images_per_s\":100.0,\"terms\":{\"id\":0.5,\"tri\":0.75}}\n");
}

TEST(JsonlWriterTest, UnwritablePathIsAnInputError) {
  testing::TempDir dir;
  EXPECT_THROW(JsonlWriter(dir.file("missing/metrics.jsonl")), InputError);
}

TEST(MetricsHookTest, ProgressDetail) {
  TrainState s;
  s.step = 50;
  s.steps_per_epoch = 25;
  s.max_epochs = 4;
  s.epoch = 2;
  s.loss = 0.5;
  s.lr = 1e-4;
  EXPECT_EQ(MetricsHook::progressDetail(s), "epoch 3/4 loss 0.5000 lr 0.0001");
}

TEST(RunMetricsTest, OpensFilesAtTheFirstRecordOnRankZeroOnly) {
  testing::TempDir dir;
  const std::string run = dir.file("run");
  RunMetrics other(run, 1);
  other.write("{\"step\":1}", 1, {{"train/loss", 1.0}});
  EXPECT_FALSE(fs::exists(run));
  RunMetrics metrics(run, 0);
  EXPECT_FALSE(fs::exists(run));  // nothing recorded yet
  metrics.write("{\"step\":1}", 1, {{"train/loss", 1.0}});
  metrics.write("{\"stage\":\"eval\",\"step\":2}", 2, {{"eval/all/mAP", 0.5}});
  EXPECT_EQ(testing::readFile(run + "/metrics.jsonl"),
            "{\"step\":1}\n{\"stage\":\"eval\",\"step\":2}\n");
  int event_files = 0;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard")) {
    ++event_files;
    const std::string bytes = testing::readFile(e.path().string());
    EXPECT_NE(bytes.find("eval/all/mAP"), std::string::npos);
    EXPECT_NE(bytes.find("train/loss"), std::string::npos);
  }
  EXPECT_EQ(event_files, 1);  // training and evaluation share one event file
  RunMetrics nowhere("", 0);
  nowhere.write("{}", 0, {});  // no run folder: nothing, no error
}

// An evaluation as a metrics.jsonl record and TensorBoard scalars, per query group.
TEST(EvalMetricsRecordTest, GroupsAndScalars) {
  EvalResults r;
  r.all.map = 0.5;
  r.all.minp = 0.25;
  r.all.cmc.assign(20, 1.0);
  r.all.cmc[0] = 0.75;
  r.all.num_query = 8;
  RankingMetrics occluded = r.all;
  occluded.map = 0.125;
  occluded.cmc[0] = 0.5;
  occluded.num_query = 4;
  r.occluded = occluded;
  EXPECT_EQ(evalMetricsRecord(40, 1, r),
            "{\"stage\":\"eval\",\"step\":40,\"epoch\":1,"
            "\"all\":{\"mAP\":0.5,\"rank1\":0.75,\"rank5\":1.0,\"rank10\":1.0,\"rank20\":1.0,"
            "\"mINP\":0.25,\"num_query\":8},"
            "\"occluded\":{\"mAP\":0.125,\"rank1\":0.5,\"rank5\":1.0,\"rank10\":1.0,"
            "\"rank20\":1.0,\"mINP\":0.25,\"num_query\":4}}");
  // `agreid run`'s evaluation of the finished model has no epoch.
  EXPECT_EQ(evalMetricsRecord(40, -1, r).rfind("{\"stage\":\"eval\",\"step\":40,\"all\":", 0), 0u);
  const auto scalars = evalMetricsScalars(r);
  EXPECT_EQ(scalars.size(), 12u);  // 2 groups x 6 rates
  EXPECT_EQ(scalars.at("eval/all/mAP"), 0.5);
  EXPECT_EQ(scalars.at("eval/occluded/rank1"), 0.5);
  EXPECT_EQ(scalars.at("eval/occluded/mINP"), 0.25);
  EXPECT_EQ(scalars.count("eval/holistic/mAP"), 0u);
  EXPECT_EQ(resultsSummary(r), "all mAP 50.00 R1 75.00, occluded mAP 12.50 R1 50.00");
}

}  // namespace
}  // namespace agreid::trainer
