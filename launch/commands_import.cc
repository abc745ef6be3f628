// agreid import LAYOUT --root DIR --out FILE.h5: build a dataset file from a public layout or a
// CSV manifest (data/importers.h). Single process; no MPI.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "base/error.h"
#include "data/importers.h"
#include "launch/commands.h"

namespace agreid::launch {
namespace {

// A progress bar on a terminal; otherwise a plain line at every 10 %.
class ImportProgress {
 public:
  ImportProgress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  ~ImportProgress() {
    if (tty_ && drawn_) std::fputc('\n', stderr);
  }

  void operator()(int64_t done, int64_t total) {
    const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (tty_) {
      if (percent == last_percent_ && done != total) return;
      constexpr int kWidth = 40;
      const int filled = percent * kWidth / 100;
      std::fprintf(stderr, "\rimport [%s%s] %3d%% %lld/%lld", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, ' ').c_str(), percent, static_cast<long long>(done),
                   static_cast<long long>(total));
      std::fflush(stderr);
      drawn_ = true;
    } else if (percent / 10 != last_percent_ / 10 || done == total) {
      if (percent == last_percent_) return;
      std::fprintf(stderr, "import: %lld/%lld images (%d%%)\n", static_cast<long long>(done),
                   static_cast<long long>(total), percent);
    }
    last_percent_ = percent;
  }

 private:
  bool tty_;
  bool drawn_ = false;
  int last_percent_ = -1;
};

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
  data::ImportSummary summary;
  {
    ImportProgress progress;
    summary =
        data::importDataset(options, [&](int64_t done, int64_t total) { progress(done, total); });
  }
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
      "re-encoded as JPEG. The output is written to FILE.h5.tmp and renamed when complete.";
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
