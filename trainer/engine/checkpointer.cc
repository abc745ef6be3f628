#include "trainer/engine/checkpointer.h"

#include "trainer/util/atomic_file.h"
#include "trainer/util/zip_verify.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "base/check.h"
#include "base/error.h"
#include "comm/communicator.h"

namespace agreid::trainer {
namespace fs = std::filesystem;
namespace {

constexpr int64_t kFormatVersion = 1;
const char* const kLatestName = "latest";

std::string shapeText(at::IntArrayRef sizes) {
  std::ostringstream os;
  os << sizes;
  return os.str();
}

// Named parameters and buffers of a module.
std::vector<std::pair<std::string, at::Tensor>> namedTensors(const torch::nn::Module& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

c10::Dict<std::string, at::Tensor> toDict(
    const std::vector<std::pair<std::string, at::Tensor>>& t) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [k, v] : t) d.insert(k, v.detach().cpu());
  return d;
}

// The default CPU generator's state as int32 (the communicators do not move uint8).
at::Tensor rngState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state().to(torch::kInt);
}

void setRngState(const at::Tensor& state) {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state.to(torch::kByte).contiguous());
}

int64_t stepOfFile(const std::string& name) {
  static const std::regex re(R"(checkpoint-(\d+)\.pt)");
  std::smatch m;
  return std::regex_match(name, m, re) ? std::stoll(m[1].str()) : -1;
}

// Checks every tensor of `model` against the checkpoint's (missing, unexpected or shape-
// mismatched -> InputError naming the tensor, nothing modified), then copies them.
void restoreModel(const std::string& path, const c10::IValue& model_value,
                  torch::nn::Module& model) {
  // Validate every tensor before modifying anything.
  const auto saved = model_value.toGenericDict();
  const auto expected = namedTensors(model);
  for (const auto& [name, tensor] : expected) {
    auto it = saved.find(name);
    if (it == saved.end()) {
      throw InputError("checkpoint " + path + ": missing tensor '" + name +
                       "' that the model expects with shape " + shapeText(tensor.sizes()));
    }
    const at::Tensor& s = it->value().toTensor();
    if (s.sizes() != tensor.sizes()) {
      throw InputError("checkpoint " + path + ": tensor '" + name + "' has shape " +
                       shapeText(s.sizes()) + ", the model expects " + shapeText(tensor.sizes()));
    }
  }
  if (saved.size() != expected.size()) {
    for (const auto& entry : saved) {
      const std::string& name = entry.key().toStringRef();
      const bool known = std::any_of(expected.begin(), expected.end(),
                                     [&](const auto& e) { return e.first == name; });
      if (!known) {
        throw InputError("checkpoint " + path + ": tensor '" + name +
                         "' is not part of the model (another architecture?)");
      }
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : expected) {
    at::Tensor target = tensor;
    target.copy_(saved.at(name).toTensor());
  }
}

// LibTorch's loader parses the archive's TorchScript code; on damaged or crafted code its parser
// throws torch::jit::ErrorReport, a std::exception that is not a c10::Error.
void openArchive(const std::string& path, torch::serialize::InputArchive& archive) {
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw InputError("checkpoint " + path + ": cannot be read as an agreid checkpoint (" +
                     e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw InputError("checkpoint " + path + ": cannot be read as an agreid checkpoint (" +
                     why.substr(0, why.find('\n')) + ")");
  }
}

}  // namespace

Checkpointer::Checkpointer(CheckpointerOptions opts, comm::Communicator& comm)
    : opts_(std::move(opts)), comm_(comm) {
  AGREID_CHECK(!opts_.dir.empty(), "checkpoint dir must be set");
}

std::string Checkpointer::save(const TrainState& state, const CheckpointContents& contents) {
  at::Tensor rng = rngState();
  const int64_t state_size = rng.numel();
  if (comm_.size() > 1) rng = comm_.allGather(rng);
  rng = rng.view({comm_.size(), state_size});

  const std::string path =
      (fs::path(opts_.dir) / ("checkpoint-" + std::to_string(state.step) + ".pt")).string();
  std::string error;
  if (comm_.rank() == 0) {
    try {
      std::error_code ec;
      fs::create_directories(opts_.dir, ec);
      if (ec) throw InputError("cannot create checkpoint dir " + opts_.dir + ": " + ec.message());
      torch::serialize::OutputArchive archive;
      archive.write("format_version", c10::IValue(kFormatVersion));
      archive.write("step", c10::IValue(state.step));
      archive.write("epoch", c10::IValue(state.epoch));
      archive.write("batch_in_epoch", c10::IValue(state.batch_in_epoch));
      archive.write("world_size", c10::IValue(static_cast<int64_t>(comm_.size())));
      archive.write("config", c10::IValue(contents.config_toml));
      archive.write("cache_key", c10::IValue(contents.cache_key));
      archive.write("global_batch", c10::IValue(contents.global_batch));
      archive.write("rng", rng);
      if (contents.model != nullptr) {
        archive.write("model", c10::IValue(toDict(namedTensors(*contents.model))));
      }
      if (contents.optimizer != nullptr) {
        torch::serialize::OutputArchive optimizer_archive;
        contents.optimizer->save(optimizer_archive);
        archive.write("optimizer", optimizer_archive);
        // torch::optim restores per-parameter state but not the groups' options: keep the lrs.
        std::vector<double> lrs;
        for (const auto& g : contents.optimizer->param_groups())
          lrs.push_back(g.options().get_lr());
        archive.write("optimizer_lrs", torch::tensor(lrs, torch::kDouble));
      }
      c10::Dict<std::string, at::Tensor> extra;
      for (const auto& [k, v] : contents.extra) extra.insert(k, v.detach().cpu());
      archive.write("extra", c10::IValue(extra));

      const std::string tmp = tempPathFor(path);
      try {
        archive.save_to(tmp);
      } catch (const c10::Error& e) {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        throw InputError("cannot write checkpoint " + tmp + ": " + e.what_without_backtrace());
      }
      commitTempFile(tmp, path);
      writeFileAtomically((fs::path(opts_.dir) / kLatestName).string(),
                          fs::path(path).filename().string() + "\n");
      prune();
    } catch (const InputError& e) {
      error = e.what();
    }
  }
  at::Tensor status = torch::full({1}, error.empty() ? 0 : 1, torch::kInt);
  if (comm_.size() > 1) comm_.broadcast(status);
  if (status.item<int>() != 0) {
    throw InputError(comm_.rank() == 0 ? error
                                       : "checkpoint " + path + " could not be written by rank 0");
  }
  return path;
}

void Checkpointer::prune() const {
  if (opts_.keep_last <= 0) return;
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(opts_.dir)) {
    const int64_t step = stepOfFile(entry.path().filename().string());
    if (step >= 0) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(opts_.keep_last) < found.size(); ++i) {
    std::error_code ignored;
    fs::remove(found[i].second, ignored);
  }
}

namespace {

// The checkpoint files of `dir`, newest (highest step) first.
std::vector<fs::path> checkpointsNewestFirst(const std::string& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const int64_t step = stepOfFile(entry.path().filename().string());
    if (step >= 0) found.emplace_back(step, entry.path());
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool sameFile(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

}  // namespace

ResumeChoice Checkpointer::resolveResume(const std::string& resume) const {
  ResumeChoice out;
  if (resume == "none" || resume.empty()) return out;
  auto complete = [&](const fs::path& path, std::string* why) {
    std::string error;
    try {
      verifyZipArchive(path.string());
      return true;
    } catch (const c10::Error& e) {
      error = e.what_without_backtrace();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (why) *why = error.substr(0, error.find('\n'));  // one line
    return false;
  };
  const fs::path dir(opts_.dir);
  if (resume != "auto") {
    const fs::path path(resume);
    if (!fs::exists(path)) {
      throw InputError("checkpoint.resume: no checkpoint at " + resume +
                       " (expected auto, none or a checkpoint file of " + opts_.dir + ")");
    }
    if (!sameFile(path.parent_path().empty() ? fs::path(".") : path.parent_path(), dir) ||
        stepOfFile(path.filename().string()) < 0) {
      throw InputError("checkpoint.resume: " + resume + " is not a checkpoint of this run (" +
                       opts_.dir + "); to start a new run from its weights use --init-from " +
                       resume);
    }
    std::string why;
    if (!complete(path, &why)) throw InputError("checkpoint.resume: " + why);
    out.path = path.string();
    return out;
  }
  const std::vector<fs::path> all = checkpointsNewestFirst(opts_.dir);
  const fs::path latest = dir / kLatestName;
  fs::path named;
  if (fs::exists(latest)) {
    std::ifstream in(latest);
    std::string name;
    std::getline(in, name);
    if (name.find('/') != std::string::npos || stepOfFile(name) < 0) {
      throw InputError(latest.string() + ": names '" + name +
                       "', which is not a checkpoint file of " + opts_.dir +
                       " (expected checkpoint-<step>.pt)");
    }
    named = dir / name;
    std::string why = "it does not exist";
    if (fs::exists(named) && complete(named, &why)) {
      out.path = named.string();
      return out;
    }
    out.notes.push_back(latest.string() + " names " + name + ", but " + why);
  } else if (!all.empty()) {
    out.notes.push_back(opts_.dir + " has checkpoints but no 'latest' file");
  }
  for (const auto& candidate : all) {
    if (!named.empty() &&
        stepOfFile(candidate.filename().string()) >= stepOfFile(named.filename().string())) {
      continue;  // only older ones than the damaged latest
    }
    std::string why;
    if (complete(candidate, &why)) {
      out.notes.push_back("resuming from the newest complete checkpoint " + candidate.string());
      out.path = candidate.string();
      return out;
    }
    out.notes.push_back("skipping " + candidate.string() + ": " + why);
  }
  if (!out.notes.empty()) {
    throw InputError(opts_.dir + ": no complete checkpoint to resume from (" + out.notes.front() +
                     "); use checkpoint.resume = \"none\" or --restart to start over");
  }
  return out;
}

void Checkpointer::loadWeights(const std::string& path, torch::nn::Module& model) const {
  verifyZipArchive(path);
  torch::serialize::InputArchive archive;
  openArchive(path, archive);
  c10::IValue value;
  if (!archive.try_read("model", value)) {
    throw InputError("checkpoint " + path + ": has no model tensors");
  }
  restoreModel(path, value, model);
}

LoadedCheckpoint Checkpointer::load(const std::string& path, const CheckpointContents& contents) {
  torch::serialize::InputArchive archive;
  openArchive(path, archive);
  auto readValue = [&](const char* key) {
    c10::IValue v;
    if (!archive.try_read(key, v)) {
      throw InputError("checkpoint " + path + ": missing entry '" + key + "'");
    }
    return v;
  };
  const int64_t version = readValue("format_version").toInt();
  if (version != kFormatVersion) {
    throw InputError("checkpoint " + path + ": format version " + std::to_string(version) +
                     ", expected " + std::to_string(kFormatVersion));
  }
  LoadedCheckpoint out;
  out.path = path;
  out.state.step = readValue("step").toInt();
  out.state.epoch = readValue("epoch").toInt();
  out.state.batch_in_epoch = readValue("batch_in_epoch").toInt();
  out.saved_world_size = static_cast<int>(readValue("world_size").toInt());
  out.config_toml = readValue("config").toStringRef();
  out.cache_key = readValue("cache_key").toStringRef();
  c10::IValue global_batch;
  if (archive.try_read("global_batch", global_batch)) out.global_batch = global_batch.toInt();
  for (const auto& entry : readValue("extra").toGenericDict()) {
    out.extra[entry.key().toStringRef()] = entry.value().toTensor();
  }

  if (contents.model != nullptr) restoreModel(path, readValue("model"), *contents.model);
  if (contents.optimizer != nullptr) {
    torch::serialize::InputArchive optimizer_archive;
    if (!archive.try_read("optimizer", optimizer_archive)) {
      throw InputError("checkpoint " + path + ": has no optimiser state");
    }
    at::Tensor lrs;
    archive.read("optimizer_lrs", lrs);
    auto& groups = contents.optimizer->param_groups();
    if (lrs.numel() != static_cast<int64_t>(groups.size())) {
      throw InputError("checkpoint " + path + ": optimiser has " + std::to_string(lrs.numel()) +
                       " parameter groups, the run has " + std::to_string(groups.size()));
    }
    try {
      contents.optimizer->load(optimizer_archive);
    } catch (const c10::Error& e) {
      throw InputError("checkpoint " + path + ": optimiser state does not fit the optimiser (" +
                       e.what_without_backtrace() + ")");
    }
    for (size_t g = 0; g < groups.size(); ++g) {
      groups[g].options().set_lr(lrs[static_cast<int64_t>(g)].item<double>());
    }
  }
  at::Tensor rng;
  archive.read("rng", rng);
  if (out.saved_world_size == comm_.size() && rng.size(0) == comm_.size()) {
    setRngState(rng[comm_.rank()]);
    out.rng_restored = true;
  }
  return out;
}

}  // namespace agreid::trainer
