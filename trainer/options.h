// Options of the trainer library. Plain structs with their defaults (method.md hyper-parameters);
// launch/config_schema.cc maps TOML keys onto these fields and docs/configuration.md lists them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace agreid::trainer {

// The choice keys, parsed once from their spellings by launch/config_schema.cc.
enum class ReidMethod { kAgReid, kClipReid };  // stage2.method: "ag-reid", "clip-reid"
// stage2.mask: "otsu", "none" (gamma = -1), percentiles "p50", "p75", "p90" (Table 6), or
// "oracle": each token kept where its attribute's body region is visible in the image (the
// dataset's /attributes/visibility; scripts/mechanism.sh), no cosine threshold.
enum class GuidanceMask { kOtsu, kNone, kP50, kP75, kP90, kOracle };
// stage1/stage2.attr_reduction over the n images: "mean", or "sum" (Eq. 8 / Eq. 14 as printed).
enum class AttrReduction { kMean, kSum };
enum class ThresholdScope { kBatch, kEpoch };  // stage2.threshold_scope: "batch", "epoch"
// stage1.pseudo_labels: "learned" (the method), "oracle", "permuted" (scripts/mechanism.sh).
enum class PseudoLabelSource { kLearned, kOracle, kPermuted };
enum class DeviceChoice { kAuto, kCpu, kCuda };      // run.device: "auto", "cpu", "cuda"
enum class ProgressSetting { kAuto, kBar, kLines };  // run.progress: "auto", "bar", "lines"

// Defaults several setup structs share (each is declared here once).
constexpr uint64_t kDefaultSeed = 1234;
constexpr int64_t kDefaultLogEvery = 10;

// Architecture of a CLIP model built from scratch (pretraining). Loading a checkpoint infers the
// architecture from tensor shapes instead.
struct ClipArchOptions {
  int64_t embed_dim = 256;
  int64_t image_height = 64;
  int64_t image_width = 32;
  int64_t patch_size = 8;
  int64_t vision_width = 128;
  int64_t vision_layers = 4;
  int64_t vision_heads = 4;
  int64_t context_length = 77;
  int64_t vocab_size = 49408;
  int64_t text_width = 128;
  int64_t text_layers = 3;
  int64_t text_heads = 4;
};

struct PretrainOptions {
  std::string data;  // captioned dataset file (.h5)
  std::string out;   // CLIP checkpoint written here (default: <run.out_dir>/clip.pt)
  int64_t steps = 600;
  int64_t batch_size = 128;  // global batch
  double lr = 5e-4;
  double weight_decay = 0.1;
  int64_t warmup_steps = 50;
  double init_temperature = 0.07;
  int64_t holdout = 1000;  // held-out people (all their images) for the zero-shot report
  // Images whose captions are identical are positives of each other in the InfoNCE loss
  // (clipContrastiveLoss with keys) instead of negatives.
  bool multi_positive = false;
  // Hard negatives (pretrain_batches.h): stored attributes whose values the people of a chunk
  // share, and the chunk's size in people; empty: batches are a permutation of the pairs.
  std::vector<std::string> hard_negatives;
  int64_t hard_negative_people = 16;
};

// The re-ID model on top of a CLIP checkpoint (method.md §1.1).
struct ModelOptions {
  std::string weights;  // CLIP checkpoint: OpenAI ViT-*.pt or an agreid pretrain output
  std::string vocab;    // bpe_simple_vocab_16e6.txt.gz
  int64_t stride = 16;  // patch stride: 16, or 12 for OLP
  bool sie = true;      // side information embedding (camera)
  double sie_coe = 1.0;
};

// Stage 1: identity prompt / attribute tokens and the attribute encoder (method.md §1.3, §2.3).
struct Stage1Options {
  std::string cache_dir;  // pseudo-label caches live here (default: <run.out_dir>/cache)
  std::string template_text =
      "A photo of a X X person with X X hair, wearing X X X upper clothes, X X X lower clothes "
      "and X X shoes, carrying X X, in X X posture.";
  std::string baseline_template = "A photo of a X X X X person.";
  int64_t epochs = 120;
  int64_t batch_size = 64;
  double lr = 3.5e-4;
  double weight_decay = 1e-4;
  int64_t warmup_epochs = 5;
  double warmup_lr = 1e-5;
  double min_lr = 1e-6;
  double lambda_attr = 1.0;
  AttrReduction attr_reduction = AttrReduction::kMean;  // L_attrA over images (Eq. 8)
  bool joint = false;  // V gets L_attrA's gradient (Eq. 9 read literally)
  // Learned (the method), oracle (each identity's true attribute words, frozen) or permuted
  // (oracle tokens shuffled across identities): the arms of scripts/mechanism.sh.
  PseudoLabelSource pseudo_labels = PseudoLabelSource::kLearned;
  // The stored attribute each placeholder of `template_text` stands for ("" for none): used by
  // oracle tokens and the token-block probe.
  std::vector<std::string> token_attributes = {"gender",
                                               "",
                                               "hair_colour",
                                               "hair_length",
                                               "upper_colour",
                                               "upper_pattern",
                                               "upper_type",
                                               "lower_colour",
                                               "lower_type",
                                               "",
                                               "shoes_colour",
                                               "",
                                               "bag_colour",
                                               "bag_type",
                                               "",
                                               ""};
  int64_t encoder_layers = 4;
  int64_t encoder_width = 256;
  int64_t encoder_heads = 4;
  int64_t encoder_ffn = 768;
  std::vector<std::string> attribute_vocabulary;  // readout prompts file lines (optional)
};

// Stage 2: dual-guidance fine-tuning (method.md §1.4, §2.3).
struct Stage2Options {
  ReidMethod method = ReidMethod::kAgReid;
  int64_t epochs = 60;
  double lr = 5e-6;
  double weight_decay = 1e-4;
  double bias_lr_factor = 2.0;
  double weight_decay_bias = 1e-4;
  int64_t warmup_epochs = 10;
  double warmup_factor = 0.1;
  std::vector<int64_t> milestones = {30, 50};
  double gamma = 0.1;
  double w_id = 0.25;
  double w_tri = 1.0;
  double w_i2t = 1.0;
  double beta = 0.01;  // attribute guidance weight
  double margin = 0.3;
  double label_smoothing = 0.1;
  AttrReduction attr_reduction = AttrReduction::kMean;  // L_attrG over images (Eq. 14)
  GuidanceMask mask = GuidanceMask::kOtsu;
  ThresholdScope threshold_scope = ThresholdScope::kBatch;  // gamma per batch or previous epoch
  double encoder_lr_factor = 1.0;                           // E_A learning rate relative to lr
  bool memory_bank = false;
  double memory_weight = 1.0;
  double memory_temperature = 0.05;
  double memory_momentum = 0.2;

  // AG-ReID with beta > 0: stage 2 fine-tunes E_A and adds the attribute guidance term (the one
  // place this condition is stated).
  bool attributeGuidance() const { return method == ReidMethod::kAgReid && beta > 0; }
};

struct EvalOptions {
  std::string dataset;  // dataset evaluated (query/gallery); default: run.dataset
  bool rerank = false;
  int64_t k1 = 50;
  int64_t k2 = 15;
  double lambda = 0.3;
  int64_t max_rank = 50;
  int64_t block_size = 4096;            // query rows per distance block
  int64_t rerank_max_samples = 100000;  // re-ranking refused above this many query + gallery
  int64_t ranked_lists = 8;             // ranked-list images written (0: none)
  // Which queries get ranked lists: "spread" (ranked_lists rows evenly spaced), "first", "worst"
  // (lowest AP), "rows" (ranked_ids are query rows) or "pids" (every query of the ranked_ids).
  std::string ranked_queries = "spread";
  std::vector<int64_t> ranked_ids;
  int64_t eval_every = 0;  // epochs between evaluations during training (0: only at the end)
};

struct CheckpointOptions {
  int64_t every_steps = 0;  // 0: once per epoch
  int64_t keep_last = 3;
  std::string resume = "auto";  // "auto", "none" or a checkpoint path
};

}  // namespace agreid::trainer

namespace agreid::trainer {

// Where a run lives and how it runs.
struct RunOptions {
  std::string out_dir = "runs/demo";
  std::string dataset;  // re-ID dataset file (.h5) with train/query/gallery splits
  uint64_t seed = kDefaultSeed;
  DeviceChoice device = DeviceChoice::kAuto;
  int64_t threads = 0;                   // intra-op threads per rank (0: cores / local ranks)
  int64_t log_every = kDefaultLogEvery;  // steps between metric lines
  // Progress on stdout: a bar (redrawn in place), lines, or auto (the bar only on a terminal a
  // person watches: launch::progressStyleFor).
  ProgressSetting progress = ProgressSetting::kAuto;
  bool bf16 = true;  // bf16 autocast on CUDA
  bool tf32 = true;  // TF32 matmuls on CUDA
};

}  // namespace agreid::trainer
