// Metric files of a run folder, written by rank 0: metrics.jsonl and TensorBoard event files.
// RunMetrics holds both for one run folder; MetricsHook (training) and the evaluations write
// through it.
//
// JsonlWriter appends one JSON object per record, flushed per line:
//   {"step":10,"epoch":0,"lr":5e-06,"loss":1.25,"images_per_s":310.5,"terms":{"id":0.7,...}}
// (doubles in the shortest text that reads back to the same value, so equal runs give equal text;
// NaN/inf become null; trainer/util/json.h).
//
// EventFileWriter writes events.out.tfevents.<unix time>.<host> in TensorBoard's format: TFRecord
// framing (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the data) around
// serialized `Event` protobufs (wall_time = 1, step = 2, file_version = 3, summary = 5;
// Summary.value = 1 with tag = 1 and simple_value = 2), encoded by hand. The first record is the
// file_version "brain.Event:2" event.
//
// Neither class is thread-safe; each owns its file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

namespace agreid::trainer {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and TFRecord's masked form
// ((crc >> 15 | crc << 17) + 0xa282ead8).
uint32_t crc32c(const void* data, size_t size);
uint32_t maskedCrc32c(const void* data, size_t size);

struct MetricsRecord {
  int64_t step = 0;
  int64_t epoch = 0;
  double lr = 0.0;
  double loss = 0.0;
  double images_per_s = 0.0;
  std::map<std::string, double> terms;
  std::string stage;  // written first as "stage" when not empty
};

class JsonlWriter {
 public:
  // Opens `path` for appending (a resumed run continues the file). Throws InputError.
  explicit JsonlWriter(const std::string& path);
  ~JsonlWriter();
  JsonlWriter(const JsonlWriter&) = delete;
  JsonlWriter& operator=(const JsonlWriter&) = delete;

  void write(const MetricsRecord& record);
  // Appends `json` (one JSON object, no newline) as a line.
  void writeLine(const std::string& json);
  static std::string toJson(const MetricsRecord& record);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new event file in it; writes the file_version record.
  // Throws InputError.
  explicit EventFileWriter(const std::string& dir);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // One Event at `step` holding a simple_value per (tag, value).
  void addScalars(int64_t step, double wall_time, const std::map<std::string, double>& scalars);
  void flush();
  const std::string& path() const { return path_; }

  // The serialized Event protobufs, exposed for tests.
  static std::string fileVersionEvent(double wall_time);
  static std::string scalarEvent(int64_t step, double wall_time,
                                 const std::map<std::string, double>& scalars);

 private:
  void writeRecord(const std::string& data);
  std::FILE* file_ = nullptr;
  std::string path_;
};

// Rank 0's metric files of one run folder: <run_dir>/metrics.jsonl and one TensorBoard event
// file in <run_dir>/tensorboard, both opened at the first record (a stage that records nothing
// creates no file). Other ranks, and an empty run_dir, write nothing. A stage's training
// records and its evaluations share one RunMetrics, so they land in one event file.
class RunMetrics {
 public:
  RunMetrics(std::string run_dir, int rank, bool tensorboard = true);

  // Appends `json` (one JSON object) to metrics.jsonl and `scalars` as one TensorBoard event at
  // `step`. Throws InputError when a file cannot be written.
  void write(const std::string& json, int64_t step, const std::map<std::string, double>& scalars);

 private:
  std::string run_dir_;
  int rank_;
  bool tensorboard_;
  std::unique_ptr<JsonlWriter> jsonl_;
  std::unique_ptr<EventFileWriter> events_;
};

}  // namespace agreid::trainer
