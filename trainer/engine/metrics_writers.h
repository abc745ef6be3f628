// Metric files written by rank 0 (MetricsHook): metrics.jsonl and TensorBoard event files.
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

}  // namespace agreid::trainer
