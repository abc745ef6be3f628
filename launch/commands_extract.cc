// agreid extract: image features of one split of a dataset file, written as a features file
// (trainer/eval/features_file.h) for `agreid eval`. Distributed: rank r takes its contiguous
// ShardedSequentialSampler share of the samples; the features are gathered (allGatherV) in dataset
// order and rank 0 writes the file.
//
// Weights: a CLIP checkpoint (OpenAI TorchScript archive or `agreid pretrain` output) gives the
// projected CLIP image feature (kind "clip"), at the checkpoint's own input resolution. agreid
// re-ID checkpoints are not read yet (their loading lands with the training pipeline).
#include <ATen/ATen.h>
#include <torch/torch.h>

#include <filesystem>
#include <memory>

#include "base/error.h"
#include "comm/mpi_communicator.h"
#include "comm/mpi_session.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/samplers.h"
#include "launch/commands.h"
#include "trainer/device.h"
#include "trainer/eval/features_file.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"

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
  std::vector<int64_t> indices;
  std::string checksum;
  {
    const data::DatasetReader reader(data_path);
    indices = splitIndices(reader, split);
    checksum = reader.info().checksum;
  }
  if (indices.empty()) throw InputError(data_path + ": no samples in split '" + split + "'");
  const std::shared_ptr<trainer::ClipModel> clip = trainer::loadClip(weights);

  std::unique_ptr<comm::MpiCommunicator> communicator;
  const int rank = ctx.mpi ? ctx.mpi->rank() : 0, world = ctx.mpi ? ctx.mpi->size() : 1;
  if (world > 1) communicator = std::make_unique<comm::MpiCommunicator>();
  const c10::Device device =
      trainer::chooseDevice(config.run.device, ctx.mpi ? ctx.mpi->localRank() : 0);
  clip->to(device);
  clip->eval();

  const trainer::ClipArch& arch = clip->arch();
  data::LoaderPlan plan;
  plan.batches = data::ShardedSequentialSampler(indices, batch_size, {rank, world}).batches();
  plan.mode = data::TransformMode::kTest;
  plan.transform = config.transform;
  plan.transform.height = arch.grid_h * arch.patch_size;  // the checkpoint's input resolution
  plan.transform.width = arch.grid_w * arch.patch_size;
  data::Loader loader(data_path, plan, config.loader);
  std::vector<at::Tensor> features, meta;
  {
    torch::NoGradGuard no_grad;
    while (auto batch = loader.next()) {
      features.push_back(clip->visual->forward(batch->images.to(device)).f_proj.to(at::kCPU));
      meta.push_back(at::stack({batch->pid, batch->camid, batch->index, batch->occluded}, 1));
    }
  }
  at::Tensor local_features = features.empty() ? at::empty({0, arch.embed_dim}, at::kFloat)
                                               : at::cat(features).to(at::kFloat).contiguous();
  at::Tensor local_meta =
      meta.empty() ? at::empty({0, 4}, at::kLong) : at::cat(meta).to(at::kLong).contiguous();
  const at::Tensor all_features =
      communicator ? communicator->allGatherV(local_features) : local_features;
  const at::Tensor all_meta = communicator ? communicator->allGatherV(local_meta) : local_meta;
  if (rank != 0) return 0;

  trainer::FeatureSet set;
  set.features = all_features;
  const int64_t n = all_meta.size(0);
  const int64_t* m = all_meta.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    set.pid.push_back(m[i * 4]);
    set.camid.push_back(m[i * 4 + 1]);
    set.index.push_back(m[i * 4 + 2]);
    set.occluded.push_back(static_cast<uint8_t>(m[i * 4 + 3] != 0));
  }
  set.info = {data_path, checksum, split, "clip", weights};
  const auto parent = std::filesystem::path(out).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  trainer::writeFeaturesFile(out, set);
  ctx.log.info("extracted ", n, " x ", set.dim(), " ", set.info.kind, " features of split '", split,
               "' of ", data_path, " to ", out);
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
      "(docs/evaluation.md). With a CLIP checkpoint the feature is the projected image feature\n"
      "(kind \"clip\") at the checkpoint's input resolution. Under mpiexec the samples are\n"
      "shared out and gathered.";
  spec.options = configOptions();
  spec.options.push_back({"weights", "FILE", "CLIP checkpoint"});
  spec.options.push_back({"data", "FILE.h5", "dataset file"});
  spec.options.push_back({"split", "SPLIT", "query, gallery, train or all (default all)"});
  spec.options.push_back({"out", "FEATURES.h5", "features file written"});
  spec.options.push_back({"batch-size", "N", "images per forward pass and rank (default 64)"});
  spec.uses_mpi = true;
  spec.run = &runExtract;
  return spec;
}

}  // namespace agreid::launch
