#include "trainer/util/zip_verify.h"

#include <caffe2/serialize/versions.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "base/error.h"

namespace agreid::trainer {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;
constexpr size_t kEndSize = 22;
constexpr size_t kMaxComment = 65535;
// Read and inflate buffer size; the two buffers are allocated once per archive.
constexpr size_t kChunk = size_t{1} << 16;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Sequential reads of one archive; every failure names the path.
class Archive {
 public:
  explicit Archive(const std::string& path) : path_(path) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) throw InputError(path + ": cannot open archive");
    if (std::fseek(file_.get(), 0, SEEK_END) != 0) fail("cannot seek");
    const long end = std::ftell(file_.get());
    if (end < 0) fail("cannot tell its size");
    size_ = static_cast<uint64_t>(end);
  }

  uint64_t size() const { return size_; }

  std::vector<unsigned char> read(uint64_t offset, uint64_t n, const char* what) {
    if (offset > size_ || n > size_ - offset) {
      fail(std::string(what) + " lies beyond the end of the file (truncated?)");
    }
    std::vector<unsigned char> buf(n);
    seek(offset);
    if (n > 0 && std::fread(buf.data(), 1, n, file_.get()) != n) fail("read error");
    return buf;
  }

  void seek(uint64_t offset) {
    if (std::fseek(file_.get(), static_cast<long>(offset), SEEK_SET) != 0) fail("cannot seek");
  }

  size_t readSome(unsigned char* dst, size_t n) { return std::fread(dst, 1, n, file_.get()); }

  [[noreturn]] void fail(const std::string& why) const {
    throw InputError(path_ + ": damaged archive: " + why);
  }

 private:
  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  uint64_t size_ = 0;
};

struct Directory {
  uint64_t entries = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
};

Directory findDirectory(Archive& ar) {
  if (ar.size() < kEndSize) ar.fail("too short to be a zip archive");
  const uint64_t tail_len = std::min<uint64_t>(ar.size(), kEndSize + kMaxComment);
  const uint64_t tail_start = ar.size() - tail_len;
  const std::vector<unsigned char> tail = ar.read(tail_start, tail_len, "end record");
  int64_t pos = -1;
  for (int64_t i = static_cast<int64_t>(tail_len - kEndSize); i >= 0; --i) {
    const unsigned char* p = tail.data() + i;
    if (le(p, 4) == kEndSig && le(p + 20, 2) <= tail_len - kEndSize - static_cast<uint64_t>(i)) {
      pos = i;
      break;
    }
  }
  if (pos < 0) ar.fail("no end-of-central-directory record (truncated?)");
  const unsigned char* e = tail.data() + pos;
  Directory dir{le(e + 10, 2), le(e + 12, 4), le(e + 16, 4)};
  const uint64_t end_offset = tail_start + static_cast<uint64_t>(pos);
  if (dir.entries == 0xFFFF || dir.size == 0xFFFFFFFF || dir.offset == 0xFFFFFFFF) {
    if (end_offset < 20) ar.fail("zip64 locator missing");
    const std::vector<unsigned char> loc = ar.read(end_offset - 20, 20, "zip64 locator");
    if (le(loc.data(), 4) != kEnd64LocatorSig) ar.fail("zip64 locator missing");
    const uint64_t end64 = le(loc.data() + 8, 8);
    const std::vector<unsigned char> r = ar.read(end64, 56, "zip64 end record");
    if (le(r.data(), 4) != kEnd64Sig) ar.fail("bad zip64 end record signature");
    dir = Directory{le(r.data() + 32, 8), le(r.data() + 40, 8), le(r.data() + 48, 8)};
  }
  if (dir.offset > end_offset || dir.size > end_offset - dir.offset) {
    ar.fail("central directory lies outside the file");
  }
  return dir;
}

struct Entry {
  std::string name;
  uint32_t crc = 0;
  uint64_t compressed = 0;
  uint64_t uncompressed = 0;
  uint64_t local_offset = 0;
  uint32_t method = 0;
  uint32_t flags = 0;
};

// Parses the central-directory record at cd[pos]; advances pos past it.
Entry parseEntry(Archive& ar, const std::vector<unsigned char>& cd, size_t& pos) {
  if (pos + 46 > cd.size() || le(cd.data() + pos, 4) != kCentralSig) {
    ar.fail("bad central directory record at byte " + std::to_string(pos));
  }
  const unsigned char* c = cd.data() + pos;
  Entry e;
  e.flags = static_cast<uint32_t>(le(c + 8, 2));
  e.method = static_cast<uint32_t>(le(c + 10, 2));
  e.crc = static_cast<uint32_t>(le(c + 16, 4));
  e.compressed = le(c + 20, 4);
  e.uncompressed = le(c + 24, 4);
  const size_t name_len = le(c + 28, 2), extra_len = le(c + 30, 2), comment_len = le(c + 32, 2);
  e.local_offset = le(c + 42, 4);
  if (pos + 46 + name_len + extra_len + comment_len > cd.size()) {
    ar.fail("central directory record overruns the directory");
  }
  e.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
  // Zip64 extended information: 8-byte values for the fields saturated above, in this order.
  const unsigned char* x = c + 46 + name_len;
  for (size_t i = 0; i + 4 <= extra_len;) {
    const uint64_t id = le(x + i, 2), len = le(x + i + 2, 2);
    if (i + 4 + len > extra_len) ar.fail("entry '" + e.name + "': bad extra field");
    if (id == 0x0001) {
      const unsigned char* v = x + i + 4;
      size_t used = 0;
      auto next = [&](uint64_t& field) {
        if (field != 0xFFFFFFFF) return;
        if (used + 8 > len) ar.fail("entry '" + e.name + "': short zip64 field");
        field = le(v + used, 8);
        used += 8;
      };
      next(e.uncompressed);
      next(e.compressed);
      next(e.local_offset);
    }
    i += 4 + len;
  }
  pos += 46 + name_len + extra_len + comment_len;
  return e;
}

// Read and inflate buffers of kChunk bytes each, shared by the entries of one archive.
struct CrcBuffers {
  std::vector<unsigned char> in = std::vector<unsigned char>(kChunk);
  std::vector<unsigned char> out = std::vector<unsigned char>(kChunk);
};

// Streams the entry's data through the CRC (inflating first when deflated). Inflating stops as
// soon as it produces more than the directory's uncompressed size (a damaged size or a bomb).
// `keep`, when given, receives the entry's (uncompressed) bytes.
uint32_t entryCrc(Archive& ar, const Entry& e, uint64_t data_offset, CrcBuffers& buffers,
                  uint64_t& produced, std::string* keep) {
  ar.seek(data_offset);
  std::vector<unsigned char>& in = buffers.in;
  std::vector<unsigned char>& out = buffers.out;
  uLong crc = crc32(0L, Z_NULL, 0);
  produced = 0;
  uint64_t left = e.compressed;
  if (e.method == 0) {
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kChunk));
      if (ar.readSome(in.data(), n) != n) ar.fail("entry '" + e.name + "' is truncated");
      crc = crc32(crc, in.data(), static_cast<uInt>(n));
      if (keep) keep->append(reinterpret_cast<const char*>(in.data()), n);
      left -= n;
      produced += n;
    }
    return static_cast<uint32_t>(crc);
  }
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) ar.fail("cannot start inflate");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0) {
      if (left == 0) ar.fail("entry '" + e.name + "': deflate stream ends early");
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, kChunk));
      if (ar.readSome(in.data(), n) != n) ar.fail("entry '" + e.name + "' is truncated");
      left -= n;
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(n);
    }
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) ar.fail("entry '" + e.name + "': corrupt deflate data");
    const size_t got = out.size() - zs.avail_out;
    crc = crc32(crc, out.data(), static_cast<uInt>(got));
    if (keep) keep->append(reinterpret_cast<const char*>(out.data()), got);
    produced += got;
    if (produced > e.uncompressed) {
      ar.fail("entry '" + e.name + "' inflates to more than its " + std::to_string(e.uncompressed) +
              " bytes");
    }
  }
  return static_cast<uint32_t>(crc);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Note [LibTorch archive layout]
// LibTorch 1.13's PyTorchStreamReader reads the zip directory and then, still in its constructor,
// requires the first entry to lie in a folder and a version record ("<folder>/.data/version",
// else "<folder>/version") holding a number in the supported range; it looks records up by name
// without regard to case. When one of these fails it throws without releasing the directory it
// read (a leak per damaged file, found by fuzz_weights). Archives that would fail so are refused
// here, before LibTorch opens them.
class LayoutCheck {
 public:
  // Called for each entry in directory order; returns whether its bytes are wanted (a version
  // record, which is small).
  bool wants(Archive& ar, const Entry& e) {
    const std::string name = lower(e.name);
    if (!names_.insert(name).second) {
      ar.fail("two entries named '" + e.name + "' (LibTorch compares names without case)");
    }
    if (names_.size() == 1) {
      const size_t slash = name.find('/');
      if (slash == std::string::npos) {
        ar.fail("first entry '" + e.name + "' is not inside a folder, as in LibTorch archives");
      }
      folder_ = name.substr(0, slash + 1);
    }
    return (name == folder_ + ".data/version" || name == folder_ + "version") &&
           e.uncompressed <= 64;
  }
  void keep(const Entry& e, std::string bytes) { versions_[lower(e.name)] = std::move(bytes); }

  void finish(Archive& ar) const {
    if (names_.empty()) ar.fail("holds no entries");
    auto it = versions_.find(folder_ + ".data/version");
    if (it == versions_.end()) it = versions_.find(folder_ + "version");
    if (it == versions_.end()) ar.fail("no version record '" + folder_ + "version'");
    std::istringstream in(it->second);
    unsigned long long version = 0;
    if (!(in >> version) || version < caffe2::serialize::kMinSupportedFileFormatVersion ||
        version > caffe2::serialize::kMaxSupportedFileFormatVersion) {
      ar.fail("version record '" + it->first + "' is not a supported LibTorch format version (" +
              std::to_string(caffe2::serialize::kMinSupportedFileFormatVersion) + ".." +
              std::to_string(caffe2::serialize::kMaxSupportedFileFormatVersion) + ")");
    }
  }

  const std::string& folder() const { return folder_; }

 private:
  std::set<std::string> names_;  // lower case
  std::string folder_;           // lower case, with the slash
  std::map<std::string, std::string> versions_;
};

std::string hex(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

bool ZipSummary::hasRecord(const std::string& record) const {
  const std::string wanted = folder + lower(record);
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& name) { return lower(name) == wanted; });
}

ZipSummary verifyZipArchive(const std::string& path) {
  Archive ar(path);
  const Directory dir = findDirectory(ar);
  const std::vector<unsigned char> cd = ar.read(dir.offset, dir.size, "central directory");
  ZipSummary summary;
  CrcBuffers buffers;
  LayoutCheck layout;
  size_t pos = 0;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    const Entry e = parseEntry(ar, cd, pos);
    const bool keep = layout.wants(ar, e);
    if (e.flags & 1u) ar.fail("entry '" + e.name + "' is encrypted");
    if (e.method != 0 && e.method != 8) {
      ar.fail("entry '" + e.name + "' uses unsupported compression " + std::to_string(e.method));
    }
    const std::vector<unsigned char> local = ar.read(e.local_offset, 30, "local header");
    if (le(local.data(), 4) != kLocalSig) ar.fail("entry '" + e.name + "': bad local header");
    // Names are outside every CRC: the local header must repeat the directory's name exactly,
    // so that a damaged name (which readers resolve records by) is caught too.
    const uint64_t local_name_len = le(local.data() + 26, 2);
    const std::vector<unsigned char> local_name =
        ar.read(e.local_offset + 30, local_name_len, "local header name");
    if (std::string(local_name.begin(), local_name.end()) != e.name) {
      ar.fail("entry '" + e.name + "': its local header names it differently");
    }
    const uint64_t data_offset =
        e.local_offset + 30 + le(local.data() + 26, 2) + le(local.data() + 28, 2);
    if (data_offset > dir.offset || e.compressed > dir.offset - data_offset) {
      ar.fail("entry '" + e.name + "' overruns the central directory (truncated?)");
    }
    uint64_t produced = 0;
    std::string bytes;
    const uint32_t crc = entryCrc(ar, e, data_offset, buffers, produced, keep ? &bytes : nullptr);
    if (produced != e.uncompressed) {
      ar.fail("entry '" + e.name + "' has " + std::to_string(produced) + " bytes, expected " +
              std::to_string(e.uncompressed));
    }
    if (crc != e.crc) {
      ar.fail("entry '" + e.name + "' fails its CRC-32 check (stored " + hex(e.crc) +
              ", computed " + hex(crc) + ")");
    }
    if (keep) layout.keep(e, std::move(bytes));
    summary.entries += 1;
    summary.data_bytes += static_cast<int64_t>(produced);
    summary.names.push_back(e.name);
  }
  if (pos != cd.size()) ar.fail("central directory has trailing bytes");
  layout.finish(ar);
  summary.folder = layout.folder();
  return summary;
}

}  // namespace agreid::trainer
