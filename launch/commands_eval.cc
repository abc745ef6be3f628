// agreid eval: metrics (results.json, a Markdown table), a CMC plot and ranked-list images from
// precomputed query and gallery features (files written by `agreid extract`). Distributed: every
// rank reads both files and scores a share of the queries (trainer/eval/metrics.h); rank 0 writes.
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "base/atomic_file.h"
#include "base/error.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "data/dataset.h"
#include "launch/commands.h"
#include "launch/job.h"
#include "launch/signals.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"
#include "trainer/eval/results.h"
#include "trainer/eval/visualize.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/evaluate_model.h"
#include "trainer/stages/reid_checkpoint.h"

namespace agreid::launch {
namespace {

// Opens a dataset file for ranked-list images; null (with a warning) when it does not exist.
std::unique_ptr<data::DatasetReader> openImages(const std::string& path, const Log& log) {
  if (path.empty() || !std::filesystem::exists(path)) {
    log.warn("ranked lists skipped: dataset file '", path, "' not found (pass --data FILE.h5)");
    return nullptr;
  }
  return std::make_unique<data::DatasetReader>(path);
}

// A dataset whose checksum differs from the one the features file recorded would show the wrong
// images in the ranked lists.
void requireSameDataset(const data::DatasetReader& images, const trainer::FeatureSet& features,
                        const std::string& features_path) {
  const std::string& recorded = features.info.dataset_checksum;
  if (recorded.empty() || images.info().checksum == recorded) return;
  throw InputError(images.path() + ": dataset checksum " + images.info().checksum +
                   " differs from " + recorded + " recorded in " + features_path +
                   " (the features come from another version of the dataset)");
}

// Files and folders an evaluation writes, removed again when it fails part-way.
class OutputsInProgress {
 public:
  ~OutputsInProgress() {
    if (done_) return;
    std::error_code ec;
    for (const auto& p : created_) std::filesystem::remove_all(p, ec);
  }
  // Records `path` unless it existed before (an earlier run's output is not ours to remove).
  const std::string& add(const std::string& path) {
    if (!std::filesystem::exists(path)) created_.push_back(path);
    return path;
  }
  void done() { done_ = true; }

 private:
  std::vector<std::string> created_;
  bool done_ = false;
};

// eval --checkpoint: extract query and gallery features with a re-ID model, then score them.
int runEvalCheckpoint(const ParsedArgs& args, CommandContext& ctx, const Config& config) {
  trainer::ModelEvalSetup setup;
  setup.dataset = args.get("data", config.eval.dataset);
  setup.out_dir = args.get("out");
  setup.weights = args.get("checkpoint");
  if (setup.dataset.empty() || setup.out_dir.empty()) {
    throw InputError(
        "agreid eval --checkpoint: --out DIR and a dataset (--data, eval.dataset or "
        "run.dataset) are required");
  }
  auto model = trainer::loadReidCheckpoint(setup.weights);
  setup.transform = config.transform;
  setup.transform.height = model->options().image_height;
  setup.transform.width = model->options().image_width;
  setup.loader = config.loader;
  setup.eval = config.eval;
  Job job(ctx, config);
  const auto results = trainer::evaluateModel(*model, setup, job.stage());
  ctx.log.info("evaluation of ", setup.weights, " on ", setup.dataset, "\n",
               trainer::resultsMarkdown(results));
  ctx.log.info("results in ", setup.out_dir);
  return 0;
}

int runEval(const ParsedArgs& args, CommandContext& ctx) {
  const Config config = configFromArgs(args);
  installInterruptHandler();
  if (args.has("checkpoint")) {
    for (const char* ignored : {"features", "gallery"}) {
      if (args.has(ignored)) {
        throw InputError(std::string("agreid eval: --") + ignored +
                         " does not apply with --checkpoint (the model encodes the query and "
                         "gallery splits of --data); pass one or the other");
      }
    }
    return runEvalCheckpoint(args, ctx, config);
  }
  const std::string query_path = args.get("features"), gallery_path = args.get("gallery");
  const std::string out_dir = args.get("out");
  if (query_path.empty() || gallery_path.empty() || out_dir.empty()) {
    throw InputError(
        "agreid eval: --features QUERY.h5, --gallery GALLERY.h5 and --out DIR are required");
  }
  std::error_code same_ec;
  if (std::filesystem::equivalent(query_path, gallery_path, same_ec)) {
    throw InputError("agreid eval: --features and --gallery name the same file " + query_path +
                     " (extract the query and gallery splits into two files)");
  }
  const trainer::FeatureSet query = trainer::readFeaturesFile(query_path);
  const trainer::FeatureSet gallery = trainer::readFeaturesFile(gallery_path);
  if (query.size() == 0) throw InputError(query_path + ": the query features file has no rows");
  if (gallery.size() == 0) {
    throw InputError(gallery_path + ": the gallery features file has no rows");
  }
  if (query.dim() != gallery.dim()) {
    throw InputError("feature dimensions differ: " + query_path + " has " +
                     std::to_string(query.dim()) + "-d features, " + gallery_path + " has " +
                     std::to_string(gallery.dim()) + "-d");
  }
  std::unique_ptr<comm::MpiCommunicator> communicator;
  if (ctx.mpi && ctx.mpi->size() > 1) communicator = std::make_unique<comm::MpiCommunicator>();

  trainer::EvaluateRequest request = trainer::rankedListRequest(query, config.eval);
  trainer::reportProgress(request, config.eval, ctx.log);
  const trainer::EvalResults results =
      trainer::evaluate(query, gallery, config.eval, communicator.get(), request);
  if (ctx.log.rank() != 0) return 0;
  throwIfInterrupted("eval");

  // Everything that can fail on the input is checked before the first file is written.
  std::unique_ptr<data::DatasetReader> query_images, gallery_images;
  const data::DatasetReader* gallery_reader = nullptr;
  if (!results.ranked.empty()) {
    // Both splits come from --data, else from the dataset file each features file names.
    const std::string data_path = args.get("data");
    const bool separate = data_path.empty() && gallery.info.dataset != query.info.dataset;
    query_images = openImages(data_path.empty() ? query.info.dataset : data_path, ctx.log);
    gallery_images = separate ? openImages(gallery.info.dataset, ctx.log) : nullptr;
    gallery_reader = separate ? gallery_images.get() : query_images.get();
    if (query_images) requireSameDataset(*query_images, query, query_path);
    if (gallery_reader) requireSameDataset(*gallery_reader, gallery, gallery_path);
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw InputError(out_dir + ": cannot create the output folder: " + ec.message());
  const std::filesystem::path out(out_dir);
  // results.json last: its presence marks a complete evaluation; a failure or a stop removes
  // what this run wrote.
  OutputsInProgress outputs;
  if (query_images && gallery_reader) {
    trainer::writeRankedListImages(outputs.add((out / "ranked").string()), results.ranked, query,
                                   gallery, *query_images, *gallery_reader);
  }
  throwIfInterrupted("eval");
  writeFileAtomically(outputs.add((out / "cmc.svg").string()), trainer::cmcSvg(results));
  trainer::writeResultsJson(outputs.add((out / "results.json").string()), results);
  outputs.done();
  ctx.log.info("evaluation of ", query_path, " against ", gallery_path, "\n",
               trainer::resultsMarkdown(results));
  ctx.log.info("results in ", out_dir);
  return 0;
}

}  // namespace

CommandSpec evalCommand() {
  CommandSpec spec;
  spec.name = "eval";
  spec.summary = "Evaluate re-ID features: mAP, CMC, mINP, CMC plot and ranked lists.";
  spec.usage =
      "agreid eval --features QUERY.h5 --gallery GALLERY.h5 --out DIR [--data DATASET.h5]\n"
      "       agreid eval --checkpoint MODEL.pt --out DIR [--data DATASET.h5]\n"
      "            [--config FILE] [--set eval.key=value ...]";
  spec.details =
      "Reads two features files written by `agreid extract` (query and gallery splits) and\n"
      "writes DIR/results.json, DIR/cmc.svg and DIR/ranked/ (images of queries with their top-10\n"
      "gallery items: eval.ranked_queries = spread, first or worst (lowest AP) picks\n"
      "eval.ranked_lists of them, rows or pids those in eval.ranked_ids; images come from --data\n"
      "or the dataset the features name).\n"
      "Protocol and metrics: docs/evaluation.md. Under mpiexec the queries are shared out.\n"
      "With --checkpoint, the query and gallery splits of --data (else eval.dataset, else\n"
      "run.dataset) are first encoded with the re-ID model by all ranks.";
  spec.options = configOptions();
  spec.options.push_back({"checkpoint", "MODEL.pt", "re-ID model (model_final.pt) to evaluate"});
  spec.options.push_back({"features", "QUERY.h5", "query features file"});
  spec.options.push_back({"gallery", "GALLERY.h5", "gallery features file"});
  spec.options.push_back({"out", "DIR", "output folder (results.json, cmc.svg, ranked/)"});
  spec.options.push_back({"data", "DATASET.h5", "dataset file for ranked-list images"});
  spec.uses_mpi = true;
  spec.run = &runEval;
  return spec;
}

}  // namespace agreid::launch
