// agreid inspect FILE: describe any file agreid reads or writes. The command dispatches on what the
// file is; each kind contributes one entry to fileKinds(), probed in order, with its describe
// function living next to the kind's reader where there is one.
#include <torch/serialize.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "base/error.h"
#include "data/dataset.h"
#include "data/dataset_summary.h"
#include "data/jpeg_codec.h"
#include "launch/commands.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/reid_model.h"
#include "trainer/model/safetensors.h"
#include "trainer/model/torch_save.h"
#include "trainer/stages/pseudo_label_cache.h"
#include "trainer/stages/reid_checkpoint.h"
#include "trainer/util/zip_verify.h"

namespace agreid::launch {
namespace {

struct FileKind {
  const char* name;
  bool (*matches)(const std::string& path);  // probe; never throws for foreign files
  // Returns the description; throws InputError when the file is damaged (or fails --verify).
  std::string (*describe)(const std::string& path, const ParsedArgs& args);
};

std::string describeDatasetFile(const std::string& path, const ParsedArgs& args) {
  data::DatasetReader reader(path);
  std::string text = data::describeDataset(reader);
  if (args.has("verify")) {
    const std::string recomputed = reader.recomputeChecksum();
    if (recomputed != reader.info().checksum) {
      throw InputError(path + ": checksum mismatch: stored " + reader.info().checksum +
                       ", recomputed " + recomputed + " (the file was modified or is corrupt)");
    }
    for (int64_t i = 0; i < reader.size(); ++i) {
      const std::vector<uint8_t> bytes = reader.readJpeg(i);
      data::decodeJpeg(bytes.data(), bytes.size(), reader.sampleContext(i));
    }
    text += "  verified:       checksum matches; all " + std::to_string(reader.size()) +
            " images decode\n";
  }
  return text;
}

std::string describeCacheFile(const std::string& path, const ParsedArgs&) {
  return trainer::describeCache(path);
}

std::string describeFeatures(const std::string& path, const ParsedArgs&) {
  return trainer::describeFeaturesFile(path);
}

std::string describeClipFile(const std::string& path, const ParsedArgs&) {
  return trainer::describeCheckpoint(path);
}

// "  integrity: ..." after verifying every zip entry's CRC-32 (throws InputError when damaged).
std::string zipIntegrity(const std::string& path) {
  const trainer::ZipSummary zip = trainer::verifyZipArchive(path);
  return "  integrity:        CRC-32 of all " + std::to_string(zip.entries) +
         " archive entries verified\n";
}

std::string describeReidFile(const std::string& path, const ParsedArgs&) {
  const std::string integrity = zipIntegrity(path);
  const auto model = trainer::loadReidCheckpoint(path);
  const trainer::ReidModelOptions& o = model->options();
  const trainer::VisionConfig& v = model->visual->config();
  const auto tensors = trainer::readCheckpointTensors(path);
  int64_t encoder = 0;
  for (const auto& [name, t] : tensors) {
    if (name.rfind("encoder.", 0) == 0) encoder += t.numel();
  }
  std::ostringstream os;
  os << path << ": agreid re-ID model\n"
     << "  vision tower:     ViT width " << v.width << ", " << v.layers << " layers, " << v.heads
     << " heads, patch " << v.patch_size << ", stride " << v.stride << ", grid " << v.grid_h << "x"
     << v.grid_w << ", projection " << v.output_dim << "\n"
     << "  input:            " << o.image_height << "x" << o.image_width << "\n"
     << "  identities:       " << o.num_classes << " (classifier rows)\n"
     << "  cameras:          " << o.num_cameras << ", SIE "
     << (o.sie ? "on (coefficient " + std::to_string(o.sie_coe) + ")" : std::string("off")) << "\n"
     << "  test feature:     " << model->featureDim() << " (cat(f, f_proj), L2-normalised)\n"
     << "  parameters:       " << trainer::countParameters(*model) << "\n"
     << "  attribute encoder: "
     << (encoder ? std::to_string(encoder) + " parameters" : std::string("none")) << "\n"
     << integrity;
  return os.str();
}

// Training checkpoints (trainer/engine/checkpointer.h): a torch::serialize archive holding
// format_version, step, epoch, batch_in_epoch, world_size, config, cache_key, model, ...
bool isTrainingCheckpoint(const std::string& path) {
  if (trainer::zipKind(path) != trainer::ZipKind::kTorchScript) return false;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue v;
    return archive.try_read("format_version", v) && archive.try_read("step", v) &&
           archive.try_read("world_size", v);
  } catch (const std::exception&) {  // c10::Error, or the TorchScript parser's ErrorReport
    return false;
  }
}

std::string describeTrainingCheckpoint(const std::string& path, const ParsedArgs&) {
  const std::string integrity = zipIntegrity(path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    const std::string why = e.what_without_backtrace();
    throw InputError(path + ": unreadable training checkpoint (" + why.substr(0, why.find('\n')) +
                     ")");
  } catch (const std::exception& e) {  // the TorchScript parser's ErrorReport
    const std::string why = e.what();
    throw InputError(path + ": unreadable training checkpoint (" + why.substr(0, why.find('\n')) +
                     ")");
  }
  const auto value = [&](const char* key) {
    c10::IValue v;
    if (!archive.try_read(key, v)) {
      throw InputError(path + ": training checkpoint lacks the entry '" + key + "'");
    }
    return v;
  };
  const auto integer = [&](const char* key) {
    const c10::IValue v = value(key);
    if (!v.isInt()) throw InputError(path + ": entry '" + std::string(key) + "' is not an integer");
    return v.toInt();
  };
  const auto text = [&](const char* key) {
    const c10::IValue v = value(key);
    if (!v.isString()) throw InputError(path + ": entry '" + std::string(key) + "' is not text");
    return v.toStringRef();
  };
  std::ostringstream os;
  os << path << ": agreid training checkpoint (format " << integer("format_version") << ")\n"
     << "  step:             " << integer("step") << "\n"
     << "  epoch:            " << integer("epoch") << " (batch " << integer("batch_in_epoch")
     << " within it)\n"
     << "  world size:       " << integer("world_size") << "\n";
  c10::IValue global_batch;
  if (archive.try_read("global_batch", global_batch) && global_batch.isInt() &&
      global_batch.toInt() > 0) {
    os << "  global batch:     " << global_batch.toInt() << " images per step\n";
  }
  c10::IValue model;
  if (archive.try_read("model", model) && model.isGenericDict()) {
    int64_t elements = 0;
    for (const auto& entry : model.toGenericDict()) elements += entry.value().toTensor().numel();
    os << "  model:            " << model.toGenericDict().size() << " tensors, " << elements
       << " elements\n";
  }
  torch::serialize::InputArchive optimizer;
  os << "  optimizer state:  " << (archive.try_read("optimizer", optimizer) ? "yes" : "no") << "\n";
  const std::string key = text("cache_key");
  os << "  pseudo-label key: " << (key.empty() ? "-" : key) << "\n";
  const c10::IValue extra = value("extra");
  if (extra.isGenericDict() && extra.toGenericDict().size() > 0) {
    os << "  extra tensors:   ";
    for (const auto& entry : extra.toGenericDict()) {
      os << " " << entry.key().toStringRef() << " " << entry.value().toTensor().sizes();
    }
    os << "\n";
  }
  os << integrity << "  config recorded:\n";
  std::istringstream config(text("config"));
  for (std::string line; std::getline(config, line);) {
    os << (line.empty() ? "" : "    ") << line << "\n";
  }
  return os.str();
}

// Probed in order; the first match describes the file. The HDF5 kinds first (cheap probes), then
// the archives, CLIP weights last (their probe reads every layout).
std::vector<FileKind> fileKinds() {
  return {
      {"dataset", &data::isDatasetFile, &describeDatasetFile},
      {"pseudo-label cache", &trainer::isCacheFile, &describeCacheFile},
      {"features file", &trainer::isFeaturesFile, &describeFeatures},
      {"re-ID model", &trainer::isReidCheckpoint, &describeReidFile},
      {"training checkpoint", &isTrainingCheckpoint, &describeTrainingCheckpoint},
      {"CLIP weights", &trainer::isClipCheckpoint, &describeClipFile},
  };
}

int runInspect(const ParsedArgs& args, CommandContext&) {
  if (args.positionals.size() != 1) throw InputError("agreid inspect: expected one FILE");
  const std::string& path = args.positionals[0];
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": no such file");
  for (const FileKind& kind : fileKinds()) {
    if (kind.matches(path)) {
      std::cout << kind.describe(path, args);
      return kExitOk;
    }
  }
  if (std::filesystem::is_directory(path, ec) ||
      trainer::zipKind(path) != trainer::ZipKind::kNotZip || trainer::isLegacyTorchSave(path) ||
      trainer::isSafetensorsFile(path)) {
    // Most likely CLIP weights that fail to load: say why.
    trainer::describeCheckpoint(path);
  }
  throw InputError(
      path +
      ": not an agreid dataset, pseudo-label cache, features file, re-ID model, training "
      "checkpoint or CLIP weights" +
      (data::isUnreadableHdf5(path) ? " (an HDF5 file that cannot be opened: truncated?)" : ""));
}

}  // namespace

CommandSpec inspectCommand() {
  CommandSpec spec;
  spec.name = "inspect";
  spec.max_positionals = 1;
  spec.summary =
      "Describe an agreid file (dataset, CLIP weights, re-ID model, training checkpoint, "
      "pseudo-label cache or features file).";
  spec.usage = "agreid inspect FILE [--verify]";
  spec.details =
      "Datasets: format version, name, source, checksum, images / identities / cameras and the\n"
      "occluded fraction per split, attribute and caption presence, and (synthetic worlds) the\n"
      "mean visible fraction of each attribute's body region over occluded / holistic images.\n"
      "CLIP weights (any layout model.weights accepts: OpenAI TorchScript archive, torch.save or\n"
      "safetensors state dict, Hugging Face folder): layout, stored dtype, widths, layers, heads,\n"
      "patch, input resolution, context, vocabulary, parameter counts.\n"
      "Re-ID models (model_final.pt): vision tower, input size, identities, cameras, SIE.\n"
      "Training checkpoints (checkpoint-N.pt): step, epoch, world size, pseudo-label key and the\n"
      "configuration the run recorded.\n"
      "Pseudo-label caches: key, identity tokens, attribute readout, stage-1 settings.\n"
      "Features files: rows x dimension, kind, identities, cameras, split, source dataset.\n"
      "Zip archives (weights, models, checkpoints) are verified against every entry's CRC-32.";
  spec.options = {
      {"verify", "", "datasets: recompute the checksum and decode every image"},
  };
  spec.run = &runInspect;
  return spec;
}

}  // namespace agreid::launch
