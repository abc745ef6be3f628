// agreid inspect FILE: describe an agreid file. The command dispatches on what the file is; each
// kind contributes one entry to fileKinds() (a dataset here; the pseudo-label cache and model
// checkpoints add theirs, with describe functions living next to their readers).
#include <filesystem>
#include <iostream>

#include "base/error.h"
#include "data/dataset.h"
#include "data/dataset_summary.h"
#include "data/jpeg_codec.h"
#include "launch/commands.h"
#include "trainer/model/clip_checkpoint.h"

namespace agreid::launch {
namespace {

struct FileKind {
  const char* name;
  bool (*matches)(const std::string& path);  // cheap probe; never throws for foreign files
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

std::string describeClipFile(const std::string& path, const ParsedArgs&) {
  return trainer::describeCheckpoint(path);
}

// Probed in order; the first match describes the file.
std::vector<FileKind> fileKinds() {
  return {
      {"dataset", &data::isDatasetFile, &describeDatasetFile},
      {"clip checkpoint", &trainer::isClipCheckpoint, &describeClipFile},
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
  throw InputError(
      path + ": not an agreid dataset, cache or checkpoint" +
      (data::isUnreadableHdf5(path) ? " (an HDF5 file that cannot be opened: truncated?)" : ""));
}

}  // namespace

CommandSpec inspectCommand() {
  CommandSpec spec;
  spec.name = "inspect";
  spec.max_positionals = 1;
  spec.summary = "Describe an agreid file (dataset, pseudo-label cache or checkpoint).";
  spec.usage = "agreid inspect FILE [--verify]";
  spec.details =
      "Datasets: format version, name, source, checksum, images / identities / cameras and the\n"
      "occluded fraction per split, attribute and caption presence.";
  spec.options = {
      {"verify", "", "datasets: recompute the checksum and decode every image"},
  };
  spec.run = &runInspect;
  return spec;
}

}  // namespace agreid::launch
