#include "trainer/engine/metrics_writers.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "base/error.h"
#include "trainer/util/json.h"

namespace agreid::trainer {
namespace {

std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

// Protobuf encoding helpers.
void putVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
void putTag(std::string& out, int field, int wire_type) {
  putVarint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}
void putFixed64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void putFixed32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void putBytes(std::string& out, int field, const std::string& bytes) {
  putTag(out, field, 2);
  putVarint(out, bytes.size());
  out += bytes;
}
void putDouble(std::string& out, int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  putTag(out, field, 1);
  putFixed64(out, bits);
}
void putFloat(std::string& out, int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  putTag(out, field, 5);
  putFixed32(out, bits);
}

std::string hostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = makeCrcTable();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t maskedCrc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

JsonlWriter::JsonlWriter(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) throw InputError("cannot open " + path + " for appending metrics");
}

JsonlWriter::~JsonlWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

std::string JsonlWriter::toJson(const MetricsRecord& r) {
  OrderedJson j;
  if (!r.stage.empty()) j["stage"] = r.stage;
  j["step"] = r.step;
  j["epoch"] = r.epoch;
  j["lr"] = r.lr;
  j["loss"] = r.loss;
  j["images_per_s"] = r.images_per_s;
  j["terms"] = OrderedJson::object();
  for (const auto& [name, value] : r.terms) j["terms"][name] = value;
  return jsonText(j);
}

void JsonlWriter::write(const MetricsRecord& record) { writeLine(toJson(record)); }

void JsonlWriter::writeLine(const std::string& json) {
  const std::string line = json + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw InputError("cannot write metrics to " + path_);
  }
}

std::string EventFileWriter::fileVersionEvent(double wall_time) {
  std::string event;
  putDouble(event, 1, wall_time);
  putBytes(event, 3, "brain.Event:2");
  return event;
}

std::string EventFileWriter::scalarEvent(int64_t step, double wall_time,
                                         const std::map<std::string, double>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    putBytes(v, 1, tag);
    putFloat(v, 2, static_cast<float>(value));
    putBytes(summary, 1, v);
  }
  std::string event;
  putDouble(event, 1, wall_time);
  putTag(event, 2, 0);
  putVarint(event, static_cast<uint64_t>(step));
  putBytes(event, 5, summary);
  return event;
}

EventFileWriter::EventFileWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("cannot create TensorBoard dir " + dir + ": " + ec.message());
  const double now = static_cast<double>(std::time(nullptr));
  path_ = (std::filesystem::path(dir) /
           ("events.out.tfevents." + std::to_string(static_cast<int64_t>(now)) + "." + hostName()))
              .string();
  file_ = std::fopen(path_.c_str(), "ab");
  if (file_ == nullptr) throw InputError("cannot create TensorBoard event file " + path_);
  writeRecord(fileVersionEvent(now));
  flush();
}

EventFileWriter::~EventFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void EventFileWriter::writeRecord(const std::string& data) {
  std::string header;
  putFixed64(header, data.size());
  std::string record = header;
  putFixed32(record, maskedCrc32c(header.data(), header.size()));
  record += data;
  putFixed32(record, maskedCrc32c(data.data(), data.size()));
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    throw InputError("cannot write TensorBoard event file " + path_);
  }
}

void EventFileWriter::addScalars(int64_t step, double wall_time,
                                 const std::map<std::string, double>& scalars) {
  writeRecord(scalarEvent(step, wall_time, scalars));
}

void EventFileWriter::flush() {
  if (std::fflush(file_) != 0) throw InputError("cannot write TensorBoard event file " + path_);
}

RunMetrics::RunMetrics(std::string run_dir, int rank, bool tensorboard)
    : run_dir_(std::move(run_dir)), rank_(rank), tensorboard_(tensorboard) {}

void RunMetrics::write(const std::string& json, int64_t step,
                       const std::map<std::string, double>& scalars) {
  if (rank_ != 0 || run_dir_.empty()) return;
  const std::filesystem::path dir(run_dir_);
  if (!jsonl_) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    jsonl_ = std::make_unique<JsonlWriter>((dir / "metrics.jsonl").string());
    if (tensorboard_) events_ = std::make_unique<EventFileWriter>((dir / "tensorboard").string());
  }
  jsonl_->writeLine(json);
  if (events_) {
    const double wall =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    events_->addScalars(step, wall, scalars);
    events_->flush();
  }
}

}  // namespace agreid::trainer
