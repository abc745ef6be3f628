// The agreid dataset file: one HDF5 file holding JPEG-encoded images and per-sample metadata
// (schema and format version in docs/data-format.md). DatasetWriter builds one; DatasetReader
// reads one. Importers, the synthetic world and the pretraining set all go through these two.
//
// Thread-safety: HDF5 is not thread-safe. A DatasetReader must be used from one thread at a time
// (the loader gives it to its I/O thread); distinct readers in distinct processes are fine.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace agreid::data {

inline constexpr int kFormatVersion = 1;

// Every agreid HDF5 file carries a string root attribute `agreid_kind` naming what it is; dataset
// files say "dataset" (docs/data-format.md). Other file kinds use other values.
inline constexpr const char* kKindAttribute = "agreid_kind";
inline constexpr const char* kDatasetKind = "dataset";

enum class Split : uint8_t { kTrain = 0, kQuery = 1, kGallery = 2 };

const char* splitName(Split split);

// One sample as stored. `label` is the contiguous training label (train split) or -1.
struct SampleRecord {
  std::vector<uint8_t> jpeg;  // encoded image bytes
  int32_t pid = 0;            // original person id; 0 = distractor
  int16_t camid = 0;          // 0-based camera
  Split split = Split::kTrain;
  int32_t label = -1;
  bool occluded = false;
  std::string path;                 // source path relative to the imported root (traceability)
  std::vector<int32_t> attributes;  // per-sample attribute values (same length in a file), optional
  std::string caption;              // UTF-8 caption, optional
  // Optional: per attribute, the fraction (0..1) of the body region it describes that is visible
  // (synthetic world). Empty, or one entry per attribute; all samples of a file alike.
  std::vector<float> visibility;
};

// Per-sample metadata, loaded whole into memory by the reader (images stay on disk).
struct SampleTable {
  std::vector<int32_t> pid;
  std::vector<int16_t> camid;
  std::vector<uint8_t> split;
  std::vector<int32_t> label;
  std::vector<uint8_t> occluded;
  std::vector<std::string> path;
  std::vector<int64_t> offsets;  // N + 1 image offsets into /images/blob
  size_t size() const { return pid.size(); }
};

struct DatasetInfo {
  int format_version = kFormatVersion;
  std::string name;      // e.g. "market1501", "synthetic"
  std::string source;    // where it came from (importer root, synth seed)
  std::string checksum;  // content checksum (hex), computed by the writer over images + metadata
  std::vector<std::string> attribute_names;                // empty when there are no attributes
  std::vector<std::vector<std::string>> attribute_values;  // value names per attribute
  bool has_captions = false;
  bool has_visibility = false;  // /attributes/visibility present
};

struct WriterOptions {
  std::string name;
  std::string source;
  std::vector<std::string> attribute_names;
  std::vector<std::vector<std::string>> attribute_values;
  int64_t chunk_bytes = 1 << 20;  // chunk size of the image blob
};

// Writes to a unique temporary beside `path`, created exclusively ("<path>.tmp-<pid>-<random>",
// base/atomic_file.h), and renames it to `path` in finish(), so a failed import never leaves a
// half-written file and two writers of one path never mix their bytes (the last rename wins).
// A failed write (disk full, quota) throws InputError naming `path` and the system's reason; the
// writer is then unusable. Destroying an unfinished writer removes the temporary file.
class DatasetWriter {
 public:
  DatasetWriter(const std::string& path, WriterOptions options);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  void add(const SampleRecord& record);
  int64_t count() const;
  // Relabels nothing: callers set `label`. Computes the checksum, writes, fsyncs, renames.
  // Throws InputError when the output cannot be written (names the path).
  DatasetInfo finish();

 private:
  DatasetInfo writeMetadata();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ReaderOptions {
  bool file_locking = false;  // HDF5 file locking; off is safe for read-only use on NFS/Lustre
};

// Opening reads and validates the metadata (a few MB for 100k samples); images stay on disk and
// are read with one hyperslab read per call.
class DatasetReader {
 public:
  // Throws InputError naming the file for: missing file, not HDF5 / truncated, missing field,
  // wrong dtype or shape, newer format version, inconsistent offsets or counts, visibility
  // fractions outside [0, 1].
  explicit DatasetReader(const std::string& path, ReaderOptions options = {});
  ~DatasetReader();
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  const std::string& path() const;
  const DatasetInfo& info() const;
  const SampleTable& samples() const;
  int64_t size() const;

  // Encoded image bytes of sample i.
  std::vector<uint8_t> readJpeg(int64_t index) const;
  // Encoded bytes of a contiguous run [begin, end): one HDF5 read (the loader's fast path).
  std::vector<uint8_t> readJpegRange(int64_t begin, int64_t end) const;

  // Per-sample attributes [N x num_attributes] (empty when absent) and captions (empty when
  // absent), loaded on first use.
  const std::vector<int32_t>& attributes() const;
  std::string caption(int64_t index) const;
  // Per-sample visible fraction of each attribute's body region [N x num_attributes], aligned
  // with attributes(); empty when the file has none (imported real datasets). Read and checked
  // on open.
  const std::vector<float>& visibility() const;

  // Indices of samples of one split, in file order.
  std::vector<int64_t> indicesOf(Split split) const;

  // "FILE sample I (SOURCE-PATH)": the context to pass to decodeJpeg so that a corrupt image
  // names its file, index and source path. Thread-safe (reads in-memory metadata only).
  std::string sampleContext(int64_t index) const;

  // Reads every sample and recomputes the content checksum (for `agreid inspect --verify`).
  std::string recomputeChecksum() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True when `path` is an HDF5 file whose root attribute `agreid_kind` is "dataset". Never throws
// for unreadable or non-HDF5 files (returns false).
bool isDatasetFile(const std::string& path);

// True when `path` starts like an HDF5 file but HDF5 cannot open it (truncated or corrupt), so
// that tools can say so instead of "unknown file kind". Never throws.
bool isUnreadableHdf5(const std::string& path);

}  // namespace agreid::data
