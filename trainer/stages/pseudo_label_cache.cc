#include "trainer/stages/pseudo_label_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/uuid/detail/sha1.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "base/error.h"
#include "trainer/util/array_file.h"

namespace agreid::trainer {
namespace {

std::string digestHex(boost::uuids::detail::sha1& sha) {
  boost::uuids::detail::sha1::digest_type digest;
  sha.get_digest(digest);
  std::ostringstream os;
  for (unsigned int word : digest) os << std::hex << std::setw(8) << std::setfill('0') << word;
  return os.str();
}

}  // namespace

std::string sha1Hex(const std::string& bytes) {
  boost::uuids::detail::sha1 sha;
  sha.process_bytes(bytes.data(), bytes.size());
  return digestHex(sha);
}

std::string sha1File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read file");
  boost::uuids::detail::sha1 sha;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.process_bytes(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return digestHex(sha);
}

std::string cacheKey(const std::string& weights_sha1, const std::string& dataset_checksum,
                     const std::string& template_text, const std::string& settings) {
  std::ostringstream os;
  os << "agreid-pseudo-label-v" << kCacheFormatVersion << "\nweights=" << weights_sha1
     << "\ndataset=" << dataset_checksum << "\ntemplate=" << template_text << "\n"
     << settings;
  return sha1Hex(os.str()).substr(0, 20);
}

std::string cachePath(const std::string& cache_dir, const std::string& key) {
  return (std::filesystem::path(cache_dir) / ("pseudo-labels-" + key + ".h5")).string();
}

void writeCache(const std::string& path, const PseudoLabelCache& cache) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ArrayFileWriter w(path);
  w.writeAttribute("agreid_kind", "pseudo-label-cache");
  w.writeAttribute("format_version", std::to_string(kCacheFormatVersion));
  w.writeAttribute("key", cache.key);
  w.writeAttribute("settings", cache.settings);
  w.writeTensor("tokens", cache.tokens);
  w.writeTensor("text_features", cache.text_features);
  w.writeTensor("image_features", cache.image_features);
  w.writeTensor("image_labels", cache.image_labels.to(at::kLong));
  for (const auto& [name, t] : cache.encoder) w.writeTensor("encoder/" + name, t);
  if (cache.readout.defined()) {
    std::string names;
    for (const auto& n : cache.readout_names) names += (names.empty() ? "" : "\n") + n;
    w.writeAttribute("readout_names", names);
    w.writeTensor("readout/predicted", cache.readout.to(at::kLong));
    if (cache.readout_truth.defined()) {
      w.writeTensor("readout/truth", cache.readout_truth.to(at::kLong));
    }
  }
  w.writeAttribute("complete", "1");  // last: a file without it was cut short
  w.commit();
}

bool isCacheFile(const std::string& path) {
  try {
    ArrayFileReader r(path);
    return r.hasAttribute("agreid_kind") && r.readAttribute("agreid_kind") == "pseudo-label-cache";
  } catch (const InputError&) {
    return false;
  }
}

std::optional<PseudoLabelCache> readCache(const std::string& path, const std::string& key,
                                          const Log& log) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  try {
    ArrayFileReader r(path);
    if (!r.hasAttribute("complete")) throw InputError(path + ": incomplete cache file");
    const std::string stored = r.readAttribute("key");
    if (stored != key) {
      log.warn(path, ": pseudo-label cache holds key ", stored, ", expected ", key,
               "; recomputing");
      return std::nullopt;
    }
    PseudoLabelCache c;
    c.key = stored;
    c.settings = r.readAttribute("settings");
    c.tokens = r.readTensor("tokens");
    c.text_features = r.readTensor("text_features");
    c.image_features = r.readTensor("image_features");
    c.image_labels = r.readTensor("image_labels");
    for (const auto& name : r.list("encoder")) {
      c.encoder.emplace_back(name, r.readTensor("encoder/" + name));
    }
    if (r.hasAttribute("readout_names")) {
      std::istringstream is(r.readAttribute("readout_names"));
      for (std::string line; std::getline(is, line);) c.readout_names.push_back(line);
      c.readout = r.readTensor("readout/predicted");
      if (r.hasTensor("readout/truth")) c.readout_truth = r.readTensor("readout/truth");
    }
    return c;
  } catch (const InputError& e) {
    log.warn(path, ": unusable pseudo-label cache (", e.what(), "); recomputing");
    return std::nullopt;
  }
}

std::string describeCache(const std::string& path) {
  ArrayFileReader r(path);
  std::ostringstream os;
  os << path << ": agreid pseudo-label cache (format " << r.readAttribute("format_version")
     << ")\n  key: " << r.readAttribute("key")
     << "\n  complete: " << (r.hasAttribute("complete") ? "yes" : "NO (truncated)") << "\n";
  auto shape = [&](const std::string& name) {
    std::ostringstream s;
    s << r.readTensor(name).sizes();
    return s.str();
  };
  os << "  identity tokens V: " << shape("tokens")
     << "\n  identity text features: " << shape("text_features")
     << "\n  cached image features: " << shape("image_features") << "\n";
  const auto enc = r.list("encoder");
  int64_t params = 0;
  for (const auto& n : enc) params += r.readTensor("encoder/" + n).numel();
  os << "  attribute encoder: "
     << (enc.empty()
             ? std::string("none")
             : std::to_string(params) + " parameters in " + std::to_string(enc.size()) + " tensors")
     << "\n";
  if (r.hasAttribute("readout_names")) {
    at::Tensor pred = r.readTensor("readout/predicted");
    os << "  attribute readout: " << pred.size(1) << " groups";
    if (r.hasTensor("readout/truth")) {
      at::Tensor truth = r.readTensor("readout/truth");
      os << ", accuracy vs ground truth " << std::fixed << std::setprecision(3)
         << pred.eq(truth).to(at::kFloat).mean().item<float>();
    }
    os << "\n";
  }
  os << "  settings:\n";
  std::istringstream is(r.readAttribute("settings"));
  for (std::string line; std::getline(is, line);) os << "    " << line << "\n";
  return os.str();
}

CacheLock::CacheLock(const std::string& cache_file) {
  const std::string lock = cache_file + ".lock";
  std::filesystem::create_directories(std::filesystem::path(lock).parent_path());
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd_ < 0) throw InputError(lock + ": cannot open lock file");
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) throw InputError(lock + ": cannot lock");
  }
}

CacheLock::~CacheLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace agreid::trainer
