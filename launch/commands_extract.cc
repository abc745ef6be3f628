// agreid extract: image features of one split of a dataset file, written as a features file
// (trainer/eval/features_file.h) for `agreid eval`. Distributed: rank r takes its contiguous
// ShardedSequentialSampler share of the samples; the features are gathered (allGatherV) in dataset
// order and rank 0 writes the file.
//
// Weights: an agreid re-ID model (model_final.pt of `agreid train`) gives the re-ID test feature
// (kind "reid": cat(f, f_proj), L2-normalised); a CLIP checkpoint (OpenAI TorchScript archive or
// `agreid pretrain` output) gives the projected CLIP image feature (kind "clip"), each at the
// checkpoint's own input resolution. The pass itself is trainer/stages/feature_pass.h.
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>

#include "base/error.h"
#include "data/dataset.h"
#include "launch/commands.h"
#include "launch/job.h"
#include "launch/signals.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/feature_pass.h"
#include "trainer/stages/reid_checkpoint.h"

namespace agreid::launch {
namespace {

std::vector<int64_t> splitIndices(const data::DatasetReader& reader, const std::string& split) {
  if (split == "all") {
    std::vector<int64_t> all(reader.size());
    for (int64_t i = 0; i < reader.size(); ++i) all[i] = i;
    return all;
  }
  if (split == "query") return reader.indicesOf(data::Split::kQuery);
  if (split == "gallery") return reader.indicesOf(data::Split::kGallery);
  if (split == "train") return reader.indicesOf(data::Split::kTrain);
  throw InputError("agreid extract: --split must be query, gallery, train or all, not '" + split +
                   "'");
}

int runExtract(const ParsedArgs& args, CommandContext& ctx) {
  const Config config = configFromArgs(args);
  const std::string weights = args.get("weights"), data_path = args.get("data");
  const std::string out = args.get("out"), split = args.get("split", "all");
  if (weights.empty() || data_path.empty() || out.empty()) {
    throw InputError(
        "agreid extract: --weights FILE, --data FILE.h5 and --out FEATURES.h5 are required");
  }
  int64_t batch_size = 0;
  try {
    batch_size = std::stoll(args.get("batch-size", "64"));
  } catch (const std::exception&) {
  }
  if (batch_size < 1) throw InputError("agreid extract: --batch-size must be a positive integer");
  trainer::FeatureSet set;
  trainer::FeaturePassOptions pass;
  {
    const data::DatasetReader reader(data_path);
    pass.indices = splitIndices(reader, split);
    const auto& table = reader.samples();
    for (int64_t i : pass.indices) {
      set.pid.push_back(table.pid[i]);
      set.camid.push_back(table.camid[i]);
      set.index.push_back(i);
      set.occluded.push_back(table.occluded[i]);
    }
    set.info = {data_path, reader.info().checksum, split, "clip", weights};
  }
  if (pass.indices.empty()) throw InputError(data_path + ": no samples in split '" + split + "'");
  pass.dataset = data_path;
  pass.transform = config.transform;
  pass.loader = config.loader;
  pass.batch_size = batch_size;
  pass.label = "extract " + split;

  installInterruptHandler();
  Job job(ctx, config);
  const c10::Device device = job.device();
  trainer::EncodeFn encode;
  std::shared_ptr<trainer::ReidModel> reid;
  std::shared_ptr<trainer::ClipModel> clip;
  if (trainer::isReidCheckpoint(weights)) {
    // The re-ID test feature: cat(f, f_proj), L2-normalised, at the model's input size.
    reid = trainer::loadReidCheckpoint(weights);
    reid->to(device);
    reid->eval();
    pass.transform.height = reid->options().image_height;
    pass.transform.width = reid->options().image_width;
    encode = [&](const at::Tensor& x, const at::Tensor& cams) {
      throwIfInterrupted("extract");
      return reid->forwardTest(x, cams);
    };
    set.info.kind = "reid";
  } else {
    // The projected CLIP image feature at the checkpoint's own input resolution.
    clip = trainer::loadClip(weights);
    clip->to(device);
    clip->eval();
    const trainer::ClipArch& arch = clip->arch();
    pass.transform.height = arch.grid_h * arch.patch_size;
    pass.transform.width = arch.grid_w * arch.patch_size;
    encode = [&](const at::Tensor& x, const at::Tensor&) {
      throwIfInterrupted("extract");
      return clip->visual->forward(x).f_proj;
    };
  }
  set.features = trainer::encodeDataset(pass, encode, job.stage());
  if (ctx.log.rank() != 0) return 0;
  throwIfInterrupted("extract");
  const auto parent = std::filesystem::path(out).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) throw InputError(out + ": cannot create the output folder: " + ec.message());
  trainer::writeFeaturesFile(out, set);
  ctx.log.info("extracted ", set.size(), " x ", set.dim(), " ", set.info.kind,
               " features of split '", split, "' of ", data_path, " to ", out);
  return 0;
}

}  // namespace

CommandSpec extractCommand() {
  CommandSpec spec;
  spec.name = "extract";
  spec.summary = "Compute image features of a dataset split and write a features file.";
  spec.usage =
      "agreid extract --weights FILE --data FILE.h5 [--split query|gallery|train|all]\n"
      "               --out FEATURES.h5 [--batch-size N] [--config FILE] [--set key=value ...]";
  spec.details =
      "Runs the vision tower with the test transforms over the split (default: all) and writes\n"
      "the features, pid, camid, sample index and occluded flag in dataset order\n"
      "(docs/evaluation.md). With a re-ID model (model_final.pt) the feature is the re-ID test\n"
      "feature (kind \"reid\"); with a CLIP checkpoint the projected image feature (kind "
      "\"clip\"),\n"
      "each at the checkpoint's input resolution. Under mpiexec the samples are shared out.";
  spec.options = configOptions();
  spec.options.push_back({"weights", "FILE", "re-ID model (model_final.pt) or CLIP checkpoint"});
  spec.options.push_back({"data", "FILE.h5", "dataset file"});
  spec.options.push_back({"split", "SPLIT", "query, gallery, train or all (default all)"});
  spec.options.push_back({"out", "FEATURES.h5", "features file written"});
  spec.options.push_back({"batch-size", "N", "images per forward pass and rank (default 64)"});
  spec.uses_mpi = true;
  spec.run = &runExtract;
  return spec;
}

}  // namespace agreid::launch
