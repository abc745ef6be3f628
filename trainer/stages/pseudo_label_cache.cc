#include "trainer/stages/pseudo_label_cache.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "base/error.h"
#include "trainer/util/array_file.h"

namespace agreid::trainer {
namespace {

// SHA-256 through OpenSSL's EVP interface, fed in pieces.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
      EVP_MD_CTX_free(ctx_);
      throw std::runtime_error("OpenSSL: cannot start a SHA-256 digest");
    }
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t n) {
    if (n > 0 && EVP_DigestUpdate(ctx_, data, n) != 1) {
      throw std::runtime_error("OpenSSL: SHA-256 update failed");
    }
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, digest, &len) != 1) {
      throw std::runtime_error("OpenSSL: SHA-256 final failed");
    }
    std::ostringstream os;
    for (unsigned int i = 0; i < len; ++i) {
      os << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(digest[i]);
    }
    return os.str();
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Throws unless `t` is a tensor of `dims` dimensions (and floating point when `floating`).
void requireTensor(const at::Tensor& t, const std::string& path, const std::string& name,
                   int64_t dims, bool floating) {
  if (!t.defined() || t.dim() != dims || at::isFloatingType(t.scalar_type()) != floating) {
    std::ostringstream got;
    if (t.defined()) got << t.scalar_type() << " " << t.sizes();
    throw InputError(path + ": tensor '" + name + "' is " +
                     (t.defined() ? got.str() : std::string("missing")) + ", expected " +
                     (floating ? "floating point" : "integer") + " with " + std::to_string(dims) +
                     " dimensions");
  }
}

void requireFinite(const at::Tensor& t, const std::string& path, const std::string& name,
                   const std::string& advice) {
  if (!at::isFloatingType(t.scalar_type()) || t.isfinite().all().item<bool>()) return;
  throw InputError(path + ": tensor '" + name + "' holds non-finite values (NaN or Inf); " +
                   advice);
}

void requireSize(const at::Tensor& t, int64_t dim, int64_t expected, const std::string& path,
                 const std::string& name, const std::string& what) {
  if (t.size(dim) == expected) return;
  throw InputError(path + ": tensor '" + name + "' has " + std::to_string(t.size(dim)) +
                   " in dimension " + std::to_string(dim) + ", expected " +
                   std::to_string(expected) + " (" + what + ")");
}

// Every named tensor of a cache, for the checks that apply to all of them.
std::vector<std::pair<std::string, at::Tensor>> namedTensors(const PseudoLabelCache& c) {
  std::vector<std::pair<std::string, at::Tensor>> all = {{"tokens", c.tokens},
                                                         {"text_features", c.text_features},
                                                         {"identity_centres", c.identity_centres}};
  for (const auto& [name, t] : c.encoder) all.emplace_back("encoder/" + name, t);
  if (c.readout.defined()) all.emplace_back("readout/predicted", c.readout);
  if (c.readout_truth.defined()) all.emplace_back("readout/truth", c.readout_truth);
  if (c.probe_accuracy.defined()) all.emplace_back("probe/accuracy", c.probe_accuracy);
  return all;
}

// The structure every stage-1 run produces; throws naming the file and the tensor otherwise.
void validateCache(const PseudoLabelCache& c, const std::string& path) {
  const std::string advice = "the cache is corrupt: delete it to recompute stage 1";
  requireTensor(c.tokens, path, "tokens", 3, true);
  requireTensor(c.text_features, path, "text_features", 2, true);
  requireTensor(c.identity_centres, path, "identity_centres", 2, true);
  const int64_t ids = c.tokens.size(0);
  requireSize(c.text_features, 0, ids, path, "text_features", "one row per identity of 'tokens'");
  requireSize(c.identity_centres, 0, ids, path, "identity_centres", "one row per identity");
  requireSize(c.identity_centres, 1, c.text_features.size(1), path, "identity_centres",
              "the embedding width of 'text_features'");
  if (c.readout.defined()) {
    requireTensor(c.readout, path, "readout/predicted", 2, false);
    requireSize(c.readout, 0, ids, path, "readout/predicted", "one row per identity");
    if (c.readout_truth.defined() && c.readout_truth.sizes() != c.readout.sizes()) {
      throw InputError(path + ": tensor 'readout/truth' differs in shape from 'readout/predicted'");
    }
  }
  if (c.probe_accuracy.defined() &&
      (c.probe_accuracy.dim() != 2 ||
       c.probe_accuracy.size(0) != static_cast<int64_t>(c.probe_attributes.size()) ||
       c.probe_accuracy.size(1) != static_cast<int64_t>(c.probe_blocks.size()))) {
    throw InputError(
        path + ": tensor 'probe/accuracy' does not match its attribute and block names; " + advice);
  }
  for (const auto& [name, t] : namedTensors(c)) requireFinite(t, path, name, advice);
}

// A version-1 file's per-image features and labels, checked, reduced to identity centres.
at::Tensor centresOfVersion1(const ArrayFileReader& r, const at::Tensor& tokens,
                             const std::string& path) {
  const at::Tensor features = r.readTensor("image_features");
  const at::Tensor labels = r.readTensor("image_labels");
  requireTensor(features, path, "image_features", 2, true);
  requireTensor(labels, path, "image_labels", 1, false);
  requireSize(labels, 0, features.size(0), path, "image_labels",
              "one label per row of 'image_features'");
  requireTensor(tokens, path, "tokens", 3, true);
  const int64_t ids = tokens.size(0);
  if (labels.numel() > 0 &&
      (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= ids)) {
    throw InputError(path + ": tensor 'image_labels' holds labels outside 0.." +
                     std::to_string(ids - 1) +
                     " (the identities of 'tokens'); the cache is corrupt: delete it to recompute "
                     "stage 1");
  }
  return identityCentres(identityFeatureSums(features, labels.to(at::kLong), ids));
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string line; std::getline(is, line);) out.push_back(line);
  return out;
}

}  // namespace

std::string verifiedDatasetChecksum(const data::DatasetReader& dataset) {
  const std::string stored = dataset.info().checksum;
  const std::string content = dataset.recomputeChecksum();
  if (content != stored) {
    throw InputError(dataset.path() + ": content checksum " + content + " differs from the " +
                     "stored " + stored + ": the file was altered after it was written " +
                     "(re-import it; agreid inspect --verify checks it)");
  }
  return stored;
}

std::string sha256Hex(const std::string& bytes) {
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  return sha.hex();
}

std::string sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read file");
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw InputError(path + ": read error");
  return sha.hex();
}

std::string cacheKey(const std::string& weights_sha256, const std::string& dataset_checksum,
                     const std::string& template_text, const std::string& settings) {
  std::ostringstream os;
  os << "agreid-pseudo-label-v" << kCacheFormatVersion << "\nweights=" << weights_sha256
     << "\ndataset=" << dataset_checksum << "\ntemplate=" << template_text << "\n"
     << settings;
  return sha256Hex(os.str()).substr(0, 20);
}

at::Tensor identityFeatureSums(const at::Tensor& features, const at::Tensor& labels,
                               int64_t num_ids) {
  const at::Tensor unit = features / features.norm(2, 1, true).clamp_min(1e-12);
  return at::zeros({num_ids, features.size(1)}, features.options()).index_add_(0, labels, unit);
}

at::Tensor identityCentres(const at::Tensor& sums) {
  return sums / sums.norm(2, 1, true).clamp_min(1e-12);
}

std::string cachePath(const std::string& cache_dir, const std::string& key) {
  return (std::filesystem::path(cache_dir) / ("pseudo-labels-" + key + ".h5")).string();
}

void writeCache(const std::string& path, const PseudoLabelCache& cache) {
  for (const auto& [name, t] : namedTensors(cache)) {
    if (t.defined()) {
      requireFinite(t, path, name, "stage 1 diverged (lower stage1.lr?); nothing was cached");
    }
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ArrayFileWriter w(path);
  w.writeAttribute("agreid_kind", "pseudo-label-cache");
  w.writeAttribute("format_version", std::to_string(kCacheFormatVersion));
  w.writeAttribute("key", cache.key);
  w.writeAttribute("settings", cache.settings);
  w.writeTensor("tokens", cache.tokens);
  w.writeTensor("text_features", cache.text_features);
  w.writeTensor("identity_centres", cache.identity_centres);
  for (const auto& [name, t] : cache.encoder) w.writeTensor("encoder/" + name, t);
  if (cache.probe_accuracy.defined()) {
    w.writeAttribute("probe_attributes", joinLines(cache.probe_attributes));
    w.writeAttribute("probe_blocks", joinLines(cache.probe_blocks));
    w.writeTensor("probe/accuracy", cache.probe_accuracy.to(at::kDouble));
  }
  if (cache.readout.defined()) {
    w.writeAttribute("readout_names", joinLines(cache.readout_names));
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
  PseudoLabelCache c;
  try {
    ArrayFileReader r(path);
    if (!r.hasAttribute("complete")) throw InputError(path + ": incomplete cache file");
    const std::string stored = r.readAttribute("key");
    if (stored != key) {
      log.warn(path, ": pseudo-label cache holds key ", stored, ", expected ", key,
               "; recomputing");
      return std::nullopt;
    }
    c.key = stored;
    c.settings = r.readAttribute("settings");
    c.tokens = r.readTensor("tokens");
    c.text_features = r.readTensor("text_features");
    c.identity_centres = r.hasTensor("image_features") ? centresOfVersion1(r, c.tokens, path)
                                                       : r.readTensor("identity_centres");
    for (const auto& name : r.list("encoder")) {
      c.encoder.emplace_back(name, r.readTensor("encoder/" + name));
    }
    if (r.hasAttribute("probe_attributes")) {
      c.probe_attributes = splitLines(r.readAttribute("probe_attributes"));
      c.probe_blocks = splitLines(r.readAttribute("probe_blocks"));
      c.probe_accuracy = r.readTensor("probe/accuracy");
    }
    if (r.hasAttribute("readout_names")) {
      c.readout_names = splitLines(r.readAttribute("readout_names"));
      c.readout = r.readTensor("readout/predicted");
      if (r.hasTensor("readout/truth")) c.readout_truth = r.readTensor("readout/truth");
    }
  } catch (const InputError& e) {
    log.warn(path, ": unusable pseudo-label cache (", e.what(), "); recomputing");
    return std::nullopt;
  }
  validateCache(c, path);
  return c;
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
     << (r.hasTensor("image_features") ? "\n  cached image features: " + shape("image_features")
                                       : "\n  identity image centres: " + shape("identity_centres"))
     << "\n";
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
  if (r.hasAttribute("probe_attributes")) {
    const auto attrs = splitLines(r.readAttribute("probe_attributes"));
    const auto blocks = splitLines(r.readAttribute("probe_blocks"));
    const at::Tensor acc = r.readTensor("probe/accuracy");
    os << "  token-block probe (leave-one-identity-out 1-NN accuracy; best block per attribute):\n";
    for (size_t a = 0; a < attrs.size() && static_cast<int64_t>(a) < acc.size(0); ++a) {
      const int64_t best = acc[static_cast<int64_t>(a)].argmax().item<int64_t>();
      os << "    " << attrs[a] << ": " << std::fixed << std::setprecision(3)
         << acc[static_cast<int64_t>(a)][best].item<double>() << " from "
         << (best < static_cast<int64_t>(blocks.size()) ? blocks[best] : "?") << "\n";
    }
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
