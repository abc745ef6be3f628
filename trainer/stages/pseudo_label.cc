#include "trainer/stages/pseudo_label.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "comm/communicator.h"
#include "comm/gradient_reducer.h"
#include "data/dataset.h"
#include "data/samplers.h"
#include "trainer/engine/lr_schedule.h"
#include "trainer/model/attribute_encoder.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_layers.h"
#include "trainer/model/clip_weights.h"
#include "trainer/model/prompt_learner.h"
#include "trainer/model/reid_model.h"
#include "trainer/model/tokenizer.h"
#include "trainer/stages/attribute_readout.h"
#include "trainer/stages/attribute_tokens.h"
#include "trainer/stages/feature_pass.h"
#include "trainer/stages/stage1_batches.h"
#include "trainer/stages/stage1_learning.h"
#include "trainer/stages/stage_loop.h"
#include "trainer/stages/training_data.h"

namespace agreid::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

const char* pseudoLabelName(PseudoLabelSource source) {
  switch (source) {
    case PseudoLabelSource::kOracle:
      return "oracle";
    case PseudoLabelSource::kPermuted:
      return "permuted";
    default:
      return "learned";
  }
}

std::string settingsText(const PseudoLabelSetup& s) {
  std::ostringstream os;
  const Stage1Options& o = s.stage1;
  os << "prompt = " << (s.attribute_prompt ? "attribute" : "identity") << "\nepochs = " << o.epochs
     << "\nbatch_size = " << o.batch_size << "\nlr = " << o.lr
     << "\nweight_decay = " << o.weight_decay << "\nwarmup_epochs = " << o.warmup_epochs
     << "\nwarmup_lr = " << o.warmup_lr << "\nmin_lr = " << o.min_lr << "\nseed = " << s.seed
     << "\nimage = " << s.transform.height << "x" << s.transform.width
     << "\nstride = " << s.model.stride << "\n";
  os << "mean_std = " << s.transform.mean[0] << "," << s.transform.mean[1] << ","
     << s.transform.mean[2] << "/" << s.transform.std[0] << "," << s.transform.std[1] << ","
     << s.transform.std[2] << "\n";
  if (s.attribute_prompt) {
    os << "attr_reduction = " << (o.attr_reduction == AttrReduction::kSum ? "sum" : "mean")
       << "\njoint = " << (o.joint ? "true" : "false")
       << "\npseudo_labels = " << pseudoLabelName(o.pseudo_labels) << "\n";
    if (o.pseudo_labels != PseudoLabelSource::kLearned) {
      os << "token_attributes =";
      for (const auto& a : o.token_attributes) os << " [" << a << "]";
      os << "\n";
    }
    os << "lambda_attr = " << o.lambda_attr << "\nencoder = " << o.encoder_layers << "x"
       << o.encoder_width << " heads " << o.encoder_heads << " ffn " << o.encoder_ffn << "\n";
  }
  for (const auto& v : o.attribute_vocabulary) os << "readout = " << v << "\n";
  return os.str();
}

const std::string& templateOf(const PseudoLabelSetup& s) {
  return s.attribute_prompt ? s.stage1.template_text : s.stage1.baseline_template;
}

// Text features of the prompts of all identities, in batches, without gradient.
at::Tensor allTextFeatures(const PromptLearner& learner, const TextTransformer& text,
                           int64_t num_ids, c10::Device device) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < num_ids; b += 64) {
    const at::Tensor labels = torch::arange(b, std::min(num_ids, b + 64), torch::kLong).to(device);
    parts.push_back(learner.textFeatures(text, labels).to(torch::kCPU));
  }
  return torch::cat(parts, 0);
}

// Combinations of stage-1 keys that cannot work, refused before any work is done.
void checkStage1Choices(const PseudoLabelSetup& setup, const data::DatasetReader& reader) {
  const Stage1Options& o = setup.stage1;
  if (o.pseudo_labels == PseudoLabelSource::kLearned) return;
  const std::string what =
      std::string("stage1.pseudo_labels = \"") + pseudoLabelName(o.pseudo_labels) + "\"";
  if (!setup.attribute_prompt) {
    throw InputError(what + " needs the attribute prompt (stage2.method = \"ag-reid\")");
  }
  if (o.joint) throw InputError(what + " freezes the tokens: stage1.joint must be false");
  if (o.lambda_attr <= 0) {
    throw InputError(what + " trains E_A only: stage1.lambda_attr must be > 0");
  }
  if (reader.attributes().empty()) {
    throw InputError(setup.dataset + ": " + what + " needs attributes stored in the dataset");
  }
}

}  // namespace

std::string stage1CheckpointDir(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "checkpoints" / "stage1").string();
}

std::string pseudoLabelKey(const PseudoLabelSetup& setup, const std::string& dataset_checksum) {
  // A single weights file keys by its SHA-1; a Hugging Face folder by its files' SHA-1s.
  const auto files = clipWeightsFiles(setup.model.weights);
  std::string weights_sha256 = sha256File(files[0]);
  if (files.size() > 1) {
    for (std::size_t i = 1; i < files.size(); ++i) weights_sha256 += sha256File(files[i]);
    weights_sha256 = sha256Hex(weights_sha256);
  }
  return cacheKey(weights_sha256, dataset_checksum, templateOf(setup), settingsText(setup));
}

PseudoLabelResult obtainPseudoLabels(const PseudoLabelSetup& setup, StageContext& ctx) {
  const auto t0 = Clock::now();
  comm::Communicator& comm = ctx.comm;
  if (setup.model.weights.empty()) throw InputError("model.weights: no CLIP checkpoint given");
  if (!std::filesystem::exists(setup.model.weights)) {
    throw InputError(setup.model.weights + ": CLIP weights file not found (model.weights)");
  }
  const TrainingData data = loadTrainingData(setup.dataset);
  checkStage1Choices(setup, *data.reader);
  PseudoLabelResult result;
  result.completed = true;
  const std::string key = pseudoLabelKey(setup, verifiedDatasetChecksum(*data.reader));
  result.path = cachePath(setup.cache_dir, key);

  // Rank 0 holds the lock while it checks and (on a miss) computes and writes; a concurrent job
  // with the same key blocks here and then reads the finished file.
  std::unique_ptr<CacheLock> lock;
  if (comm.rank() == 0) lock = std::make_unique<CacheLock>(result.path);
  at::Tensor hit = torch::zeros({1}, torch::kInt);
  if (comm.rank() == 0 && readCache(result.path, key, ctx.log)) hit.fill_(1);
  ctx.hostComm().broadcast(hit);
  if (hit.item<int>() == 1) {
    auto cache = readCache(result.path, key, ctx.log);
    if (!cache) throw InputError(result.path + ": pseudo-label cache became unreadable");
    result.cache = std::move(*cache);
    result.cache_hit = true;
    result.readout_accuracy = readoutAccuracy(result.cache.readout, result.cache.readout_truth);
    result.seconds = secondsSince(t0);
    ctx.log.info("pseudo-label cache hit: ", result.path, " (key ", key, ", ", result.seconds,
                 " s)");
    return result;
  }
  ctx.log.info("pseudo-label cache miss: computing ", result.path, " (key ", key, ")");
  // A batch too small for the ranks is refused before the feature pass, not after it.
  (void)Stage1Batches(static_cast<int64_t>(data.indices.size()), setup.stage1.batch_size,
                      comm.size(), setup.seed);

  torch::manual_seed(setup.seed);
  auto clip = loadClip(setup.model.weights);
  setRequiresGrad(*clip, false);
  clip->to(ctx.device);
  clip->eval();
  ClipTokenizer tokenizer(setup.model.vocab);

  // 1. Feature cache: projected class-token features of every training image, re-ID geometry.
  ModelOptions feature_model = setup.model;
  feature_model.sie = false;  // camera embeddings are not trained yet
  ReidModel reid(
      *clip, ReidModelOptions::fromConfig(feature_model, setup.transform.height,
                                          setup.transform.width, data.num_ids, data.num_cameras));
  reid.to(ctx.device);
  reid.eval();
  FeaturePassOptions pass;
  pass.dataset = setup.dataset;
  pass.indices = data.indices;
  pass.transform = setup.transform;
  pass.loader = setup.loader;
  pass.batch_size = 64;
  pass.label = "stage 1 features";
  pass.gather = false;  // each rank keeps the features of its shard
  const auto t_cache = Clock::now();
  Stage1Features state;
  state.features = encodeDataset(
                       pass,
                       [&](const at::Tensor& images, const at::Tensor&) {
                         return reid.visual->forward(images).f_proj;
                       },
                       ctx)
                       .to(ctx.device);
  result.caching_images_per_s = static_cast<double>(data.indices.size()) / secondsSince(t_cache);
  ctx.log.info("stage 1 feature cache: ", data.indices.size(), " images, ",
               result.caching_images_per_s, " images/s over ", comm.size(), " ranks");
  const data::ShardedSequentialSampler shard(data.indices, pass.batch_size,
                                             {comm.rank(), comm.size()});
  state.labels = torch::tensor(std::vector<int64_t>(data.labels.begin() + shard.begin(),
                                                    data.labels.begin() + shard.end()),
                               torch::kLong)
                     .to(ctx.device);
  state.total = static_cast<int64_t>(data.indices.size());

  // 2. Prompt tokens V (+ attribute encoder).
  PromptLearnerOptions plo;
  plo.template_text = templateOf(setup);
  plo.num_classes = data.num_ids;
  auto prompt = std::make_shared<PromptLearner>(tokenizer, *clip->text, plo);
  const at::Tensor id_attrs =
      identityAttributes(*data.reader, data.indices, data.labels, data.num_ids);
  std::vector<int> token_attribute;
  if (setup.attribute_prompt && id_attrs.defined() &&
      static_cast<int64_t>(setup.stage1.token_attributes.size()) == prompt->numTokens()) {
    token_attribute = tokenAttributeIndices(data.reader->info(), setup.stage1.token_attributes,
                                            prompt->numTokens());
  }
  if (setup.stage1.pseudo_labels != PseudoLabelSource::kLearned) {
    token_attribute = tokenAttributeIndices(data.reader->info(), setup.stage1.token_attributes,
                                            prompt->numTokens());
    torch::NoGradGuard g;
    at::Tensor oracle =
        oracleTokens(tokenizer, *clip->text, data.reader->info(), id_attrs, token_attribute,
                     prompt->token_base[prompt->placeholderPositions()[0]]);
    if (setup.stage1.pseudo_labels == PseudoLabelSource::kPermuted)
      oracle = permuteIdentities(oracle, setup.seed);
    prompt->ctx.copy_(oracle.to(prompt->ctx.device()));
    ctx.log.info("stage 1: ", pseudoLabelName(setup.stage1.pseudo_labels),
                 " pseudo-labels (true attribute words), frozen; training E_A only");
  }
  std::shared_ptr<AttributeEncoder> encoder;
  if (setup.attribute_prompt) {
    encoder = std::make_shared<AttributeEncoder>(AttributeEncoderOptions::fromConfig(
        setup.stage1, clip->arch().embed_dim, prompt->numTokens(), clip->arch().text_width));
  }
  Stage1Modules trained(prompt, encoder);
  trained.to(ctx.device);
  const PromptLearner& learner = *prompt;
  Stage1LearnOptions learn;
  learn.key = key;
  const StageOutcome learned =
      learnPseudoLabelTokens(setup, learn, state, *clip->text, trained, ctx);
  result.steps = learned.state.step;
  if (learned.status == RunStatus::kStopped) {
    result.completed = false;
    result.seconds = secondsSince(t0);
    return result;  // stopped: no cache is written
  }

  // 3. Identity text features and attribute readout.
  PseudoLabelCache& cache = result.cache;
  cache.key = key;
  cache.settings = "template = " + templateOf(setup) + "\n" + settingsText(setup);
  cache.tokens = learner.ctx.detach().to(torch::kCPU).clone();
  cache.text_features = allTextFeatures(learner, *clip->text, data.num_ids, ctx.device);
  // Identity centres: the ranks' sums over their shards, added up.
  at::Tensor sums = identityFeatureSums(state.features.to(torch::kCPU),
                                        state.labels.to(torch::kCPU), data.num_ids);
  ctx.hostComm().allReduce(sums)->wait();
  cache.identity_centres = identityCentres(sums);
  if (encoder) {
    for (const auto& item : encoder->named_parameters()) {
      cache.encoder.emplace_back(item.key(), item.value().detach().to(torch::kCPU).clone());
    }
  }
  const ReadoutVocabulary vocab =
      readoutVocabulary(*data.reader, setup.stage1.attribute_vocabulary);
  if (!vocab.empty()) {
    const std::vector<at::Tensor> value_features =
        readoutPromptFeatures(tokenizer, *clip->text, vocab, ctx.device);
    cache.readout_names = vocab.groups;
    cache.readout = readoutAttributes(cache.text_features, value_features);
    cache.readout_truth = readoutGroundTruth(id_attrs, vocab);
    // Image readout: mean cached image feature per identity.
    const at::Tensor image_pred = readoutAttributes(cache.identity_centres, value_features);
    result.readout_accuracy = readoutAccuracy(cache.readout, cache.readout_truth);
    result.image_readout_accuracy = readoutAccuracy(image_pred, cache.readout_truth);
    if (result.readout_accuracy >= 0) {
      ctx.log.info("attribute readout accuracy: pseudo-labels ", result.readout_accuracy,
                   ", image zero-shot ", result.image_readout_accuracy);
      for (const auto& line :
           describeReadout(vocab.groups, cache.readout, image_pred, cache.readout_truth)) {
        ctx.log.info(line);
      }
    }
  }
  if (id_attrs.defined() && setup.attribute_prompt) {
    const TokenProbe probe =
        probeTokenBlocks(cache.tokens, tokenBlocks(learner.placeholderPositions()), id_attrs,
                         data.reader->info().attribute_names, token_attribute);
    cache.probe_attributes = probe.attributes;
    cache.probe_blocks = probe.blocks;
    cache.probe_accuracy = probe.accuracy;
    for (const auto& line : describeProbe(probe)) ctx.log.info(line);
    result.probe = probe;
  }
  if (comm.rank() == 0) writeCache(result.path, cache);
  comm.barrier();
  result.seconds = secondsSince(t0);
  ctx.log.info("pseudo-label cache written: ", result.path, " (", result.seconds, " s)");
  return result;
}

}  // namespace agreid::trainer
