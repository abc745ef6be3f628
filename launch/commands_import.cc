// agreid import LAYOUT --root DIR --out FILE.h5: build a dataset file from a public layout or a
// CSV manifest (data/importers.h). Single process; no MPI.
#include <iostream>

#include "base/error.h"
#include "base/progress.h"
#include "data/importers.h"
#include "launch/commands.h"
#include "launch/signals.h"

namespace agreid::launch {
namespace {

std::string layoutList() {
  std::string out;
  for (const auto& l : data::importLayouts()) out += (out.empty() ? "" : ", ") + l;
  return out;
}

int runImport(const ParsedArgs& args, CommandContext& ctx) {
  if (args.positionals.size() != 1) {
    throw InputError("agreid import: expected one LAYOUT (" + layoutList() + ")");
  }
  data::ImportOptions options;
  options.layout = args.positionals[0];
  options.root = args.get("root");
  options.out = args.get("out");
  options.manifest = args.get("manifest");
  if (options.root.empty()) throw InputError("agreid import: --root DIR is required");
  if (options.out.empty()) throw InputError("agreid import: --out FILE.h5 is required");
  if (!options.manifest.empty() && options.layout != "csv") {
    throw InputError("agreid import: --manifest applies to the csv layout only");
  }
  installInterruptHandler();
  const auto progress = progressCallback(ctx.log, "import", "images");
  const data::ImportSummary summary =
      data::importDataset(options, [&](int64_t done, int64_t total) {
        throwIfInterrupted("import");
        progress(done, total);
      });
  std::cout << data::formatImportSummary(summary);
  for (const auto& w : summary.warnings) ctx.log.warn(w);
  return kExitOk;
}

}  // namespace

CommandSpec importCommand() {
  CommandSpec spec;
  spec.name = "import";
  spec.max_positionals = 1;
  spec.summary = "Build an agreid dataset file from a public dataset folder or a CSV manifest.";
  spec.usage = "agreid import LAYOUT --root DIR --out FILE.h5 [--manifest FILE.csv]";
  spec.details =
      "LAYOUT: " + layoutList() +
      ".\n"
      "The folder layouts and parsing rules are in docs/data-format.md. Junk images (pid -1) are\n"
      "dropped; corrupt or non-image files are skipped and counted; TIFF/PNG images are\n"
      "re-encoded as JPEG. The output is written to a temporary beside FILE.h5 and renamed when\n"
      "complete; SIGTERM or Ctrl-C stops the import and removes it (exit code 143 / 130).";
  spec.options = {
      {"root", "DIR", "dataset folder (e.g. Market-1501-v15.09.15)"},
      {"out", "FILE.h5", "output dataset file"},
      {"manifest", "FILE.csv",
       "csv layout: path,pid,camid,split[,occluded] (default ROOT/manifest.csv)"},
  };
  spec.run = &runImport;
  return spec;
}

}  // namespace agreid::launch
