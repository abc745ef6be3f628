// agreid synth: generates the synthetic occluded-pedestrian world (docs/synthetic-world.md), or a
// preview grid of its images for the docs.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "base/atomic_file.h"
#include "base/error.h"
#include "base/progress.h"
#include "data/jpeg_codec.h"
#include "data/synth_generator.h"
#include "launch/commands.h"
#include "launch/signals.h"

namespace agreid::launch {
namespace {

constexpr int64_t kPreviewUpscale = 3;

int runSynth(const ParsedArgs& args, CommandContext& ctx) {
  if (!args.positionals.empty()) {
    throw InputError("agreid synth: unexpected argument '" + args.positionals[0] + "'");
  }
  const bool has_out = args.has("out"), has_preview = args.has("preview");
  if (has_out == has_preview) {
    throw InputError("agreid synth: expected exactly one of --out DIR or --preview FILE.jpg");
  }
  const Config config = configFromArgs(args);
  const data::SynthOptions& options = config.synth;
  if (has_preview) {
    const std::string path = args.get("preview");
    int64_t columns = 8;
    if (args.has("columns")) {
      try {
        columns = std::stoll(args.get("columns"));
      } catch (const std::exception&) {
        columns = 0;
      }
      if (columns < 1 || columns > 64) {
        throw InputError("agreid synth --columns: expected an integer 1..64, got '" +
                         args.get("columns") + "'");
      }
    }
    const data::SynthPreview preview = data::renderSynthPreview(options, columns, kPreviewUpscale);
    const std::vector<uint8_t> jpeg = data::encodeJpeg(preview.grid, 95);
    writeFileAtomically(path, std::string(jpeg.begin(), jpeg.end()));
    const size_t cols = preview.captions.size() / 2;
    for (size_t i = 0; i < preview.captions.size(); ++i) {
      std::cout << (i < cols ? "holistic " : "occluded ") << (i % cols + 1) << ": "
                << preview.captions[i] << "\n";
    }
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  installInterruptHandler();
  data::SynthGenerateOptions generate;
  generate.check_stop = [] { throwIfInterrupted("synth"); };
  ProgressOptions po;
  po.label = "synth";
  po.total = data::synthImageCount(options);
  po.unit = "images";
  Progress progress(ctx.log, po);
  int64_t rendered = 0;
  generate.rendered = [&] { progress.update(++rendered); };
  const data::SynthSummary s = data::generateSynthWorld(options, args.get("out"), generate);
  progress.finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ctx.log.info("wrote ", s.reid_path, ": ", s.train_identities, " train identities (",
               s.train_images, " images, ", s.occluded_train, " occluded), ", s.test_identities,
               " test identities (", s.query_images, " queries, ", s.occluded_queries,
               " occluded; ", s.gallery_images, " gallery, ", s.occluded_gallery, " occluded), ",
               s.lookalike_identities, " look-alike identities");
  ctx.log.info("wrote ", s.pretrain_path, ": ", s.pretrain_images, " captioned images of ",
               s.pretrain_identities, " identities");
  char elapsed[32];
  std::snprintf(elapsed, sizeof(elapsed), "%.1f", seconds);
  ctx.log.info("synthetic world generated in ", elapsed, " s");
  return 0;
}

}  // namespace

CommandSpec synthCommand() {
  CommandSpec spec;
  spec.name = "synth";
  spec.summary = "Generate the synthetic occluded-pedestrian world (re-ID and pretraining sets).";
  spec.usage =
      "agreid synth --out DIR [--config FILE] [--set synth.key=value ...]\n"
      "       agreid synth --preview FILE.jpg [--columns N] [--config FILE] [--set ...]";
  spec.details =
      "--out writes DIR/reid.h5 (train/query/gallery with attributes, occluded flags, captions\n"
      "and the visible fraction of each attribute's body region)\n"
      "and DIR/pretrain.h5 (captioned pretraining set of other identities). The same synth.*\n"
      "settings always give byte-identical files.\n"
      "--preview writes a grid of test identities (top: holistic gallery image, bottom: occluded\n"
      "query), upscaled x3, and prints the captions of its cells.";
  spec.options = configOptions();
  spec.options.push_back({"out", "DIR", "output folder (created when missing)"});
  spec.options.push_back({"preview", "FILE.jpg", "write a preview grid instead of the world"});
  spec.options.push_back({"columns", "N", "identities in the preview grid (default 8)"});
  spec.run = &runSynth;
  return spec;
}

}  // namespace agreid::launch
