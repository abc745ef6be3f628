// Every configuration key: its field, its one-line description and its allowed range. The default
// is the initialiser of the field in data/options.h or trainer/options.h. docs/configuration.md is
// generated from this table (`agreid config reference`); a test keeps the two in step.
#include <limits>

#include "launch/config.h"

namespace agreid::launch {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

class KeyList {
 public:
  explicit KeyList(std::string section) : section_(std::move(section)) {}
  KeyList& add(const std::string& name, FieldRef field, std::string description,
               std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt) {
    keys_.push_back({section_ + "." + name, field, std::move(description), min, max, {}});
    return *this;
  }
  KeyList& choice(const std::string& name, std::string* field, std::string description,
                  std::vector<std::string> choices) {
    keys_.push_back({section_ + "." + name, field, std::move(description), std::nullopt,
                     std::nullopt, std::move(choices)});
    return *this;
  }
  // A choice key held as an enum (config.h, EnumField): each spelling with its value.
  template <typename E>
  KeyList& choice(const std::string& name, E* field, std::string description,
                  const std::vector<std::pair<std::string, E>>& choices) {
    EnumField f = enumField(field, choices);
    std::vector<std::string> names = f.names;
    keys_.push_back({section_ + "." + name, std::move(f), std::move(description), std::nullopt,
                     std::nullopt, std::move(names)});
    return *this;
  }
  void appendTo(std::vector<KeySpec>& out) {
    for (auto& k : keys_) out.push_back(std::move(k));
  }

 private:
  std::string section_;
  std::vector<KeySpec> keys_;
};

}  // namespace

std::vector<KeySpec> configKeys(Config& c) {
  std::vector<KeySpec> keys;

  KeyList("run")
      .add("out_dir", &c.run.out_dir, "run directory: checkpoints, metrics, results")
      .add("dataset", &c.run.dataset, "re-ID dataset file (.h5) with train/query/gallery splits")
      .add("seed", &c.run.seed, "seed shared by all ranks (sampling, augmentation, init)")
      .choice("device", &c.run.device, "compute device",
              {{"auto", trainer::DeviceChoice::kAuto},
               {"cpu", trainer::DeviceChoice::kCpu},
               {"cuda", trainer::DeviceChoice::kCuda}})
      .add("threads", &c.run.threads, "intra-op threads per rank (0: cores / local ranks)", 0, 1024)
      .add("log_every", &c.run.log_every, "steps between metric lines", 1, kInf)
      .choice("progress", &c.run.progress,
              "progress: bar, lines, or auto (bar only on a watched terminal; AGREID_PROGRESS)",
              {{"auto", trainer::ProgressSetting::kAuto},
               {"bar", trainer::ProgressSetting::kBar},
               {"lines", trainer::ProgressSetting::kLines}})
      .add("bf16", &c.run.bf16, "bf16 autocast on CUDA")
      .add("tf32", &c.run.tf32, "TF32 matrix products on CUDA")
      .appendTo(keys);

  KeyList("data")
      .add("height", &c.transform.height, "input image height", 16, 1024)
      .add("width", &c.transform.width, "input image width", 8, 1024)
      .add("flip_prob", &c.transform.flip_prob, "train: horizontal flip probability", 0, 1)
      .add("pad", &c.transform.pad, "train: zero padding before the random crop", 0, 256)
      .add("erasing_prob", &c.transform.erasing_prob, "train: random erasing probability", 0, 1)
      .add("mean", &c.transform.mean, "per-channel normalisation mean (RGB)")
      .add("std", &c.transform.std, "per-channel normalisation standard deviation (RGB)")
      .add("num_workers", &c.loader.num_workers, "decode/augment threads per process", 1, 256)
      .add("prefetch_batches", &c.loader.prefetch_batches, "batches prepared ahead", 1, 1024)
      .add("hdf5_file_locking", &c.loader.hdf5_file_locking,
           "HDF5 file locking (off is safe on network file systems for read-only files)")
      .add(
          "pin_memory", &c.loader.pin_memory,
          "page-locked batch memory for faster host-to-device copies (only when CUDA is available)")
      .add("identities_per_batch", &c.sampler.identities_per_batch,
           "P: identities in a global batch", 1, 65536)
      .add("instances_per_identity", &c.sampler.instances_per_identity,
           "K: images per identity in a batch", 1, 1024)
      .appendTo(keys);

  KeyList("synth")
      .add("seed", &c.synth.seed, "seed of the synthetic world")
      .add("identities", &c.synth.identities, "re-ID identities (half train, half test)", 4, 1e7)
      .add("images_per_identity", &c.synth.images_per_identity, "images per identity", 2, 10000)
      .add("cameras", &c.synth.cameras, "cameras", 2, 64)
      .add("height", &c.synth.height, "rendered image height", 16, 1024)
      .add("width", &c.synth.width, "rendered image width", 8, 1024)
      .add("query_fraction", &c.synth.query_fraction, "test images used as queries", 0.01, 0.9)
      .add("occluded_query_fraction", &c.synth.occluded_query_fraction, "queries with an occluder",
           0, 1)
      .add("occluded_gallery_fraction", &c.synth.occluded_gallery_fraction,
           "gallery images with an occluder", 0, 1)
      .add("occluded_train_fraction", &c.synth.occluded_train_fraction,
           "training images with an occluder", 0, 1)
      .add("lookalike_fraction", &c.synth.lookalike_fraction,
           "identities that copy every attribute of an earlier identity (look-alikes)", 0, 1)
      .add("region_occluders", &c.synth.region_occluders,
           "images with a panel hiding one body region (head, upper/lower body, feet, bag)", 0, 1)
      .add("short_captions", &c.synth.short_captions,
           "captions naming a few attributes in the readout prompts' phrasing", 0, 1)
      .add("short_caption_attributes", &c.synth.short_caption_attributes,
           "a short caption names 1 to this many attributes", 1, 12)
      .add("pretrain_identities", &c.synth.pretrain_identities,
           "identities of the captioned pretraining set (disjoint from re-ID)", 1, 1e8)
      .add("pretrain_images", &c.synth.pretrain_images, "captioned pretraining images", 1, 1e9)
      .add("jpeg_quality", &c.synth.jpeg_quality, "JPEG quality of stored images", 1, 100)
      .appendTo(keys);

  KeyList("clip")
      .add("embed_dim", &c.clip.embed_dim, "joint image-text embedding width", 1, 65536)
      .add("image_height", &c.clip.image_height, "pretraining image height", 8, 1024)
      .add("image_width", &c.clip.image_width, "pretraining image width", 8, 1024)
      .add("patch_size", &c.clip.patch_size, "ViT patch size", 1, 256)
      .add("vision_width", &c.clip.vision_width, "ViT width", 8, 65536)
      .add("vision_layers", &c.clip.vision_layers, "ViT layers", 1, 256)
      .add("vision_heads", &c.clip.vision_heads, "ViT attention heads", 1, 256)
      .add("context_length", &c.clip.context_length, "text context length", 8, 1024)
      .add("vocab_size", &c.clip.vocab_size, "text vocabulary size", 1, 1e7)
      .add("text_width", &c.clip.text_width, "text transformer width", 8, 65536)
      .add("text_layers", &c.clip.text_layers, "text transformer layers", 1, 256)
      .add("text_heads", &c.clip.text_heads, "text attention heads", 1, 256)
      .appendTo(keys);

  KeyList("pretrain")
      .add("data", &c.pretrain.data, "captioned dataset file (.h5)")
      .add("out", &c.pretrain.out, "CLIP checkpoint to write (default: <run.out_dir>/clip.pt)")
      .add("steps", &c.pretrain.steps, "optimiser steps", 1, 1e9)
      .add("batch_size", &c.pretrain.batch_size, "global batch size", 2, 1e7)
      .add("lr", &c.pretrain.lr, "peak learning rate (AdamW)", 0, 10)
      .add("weight_decay", &c.pretrain.weight_decay, "AdamW weight decay", 0, 10)
      .add("warmup_steps", &c.pretrain.warmup_steps, "linear warmup steps, then cosine", 0, 1e9)
      .add("init_temperature", &c.pretrain.init_temperature, "initial InfoNCE temperature", 1e-4,
           10)
      .add("holdout", &c.pretrain.holdout,
           "held-out people for the zero-shot report (at most a fifth)", 0, 1e9)
      .add("multi_positive", &c.pretrain.multi_positive,
           "images with identical captions are positives of each other, not negatives")
      .add("hard_negatives", &c.pretrain.hard_negatives,
           "stored attributes shared inside a batch's chunks of people (empty: random batches)")
      .add("hard_negative_people", &c.pretrain.hard_negative_people,
           "people per chunk that share pretrain.hard_negatives", 2, 1e6)
      .appendTo(keys);

  KeyList("model")
      .add("weights", &c.model.weights,
           "CLIP weights: OpenAI ViT-*.pt, agreid pretrain, state dict or HF folder")
      .add("vocab", &c.model.vocab, "CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)")
      .add("stride", &c.model.stride, "patch stride (16; 12 = overlapping patches, OLP)", 1, 256)
      .add("sie", &c.model.sie, "side information embedding: camera embedding on the class token")
      .add("sie_coe", &c.model.sie_coe, "SIE coefficient", 0, 100)
      .appendTo(keys);

  KeyList("stage1")
      .add("cache_dir", &c.stage1.cache_dir, "pseudo-label cache folder (default: <out_dir>/cache)")
      .add("template", &c.stage1.template_text, "attribute prompt; each X is a learnable token")
      .add("baseline_template", &c.stage1.baseline_template, "CLIP-ReID identity prompt")
      .add("epochs", &c.stage1.epochs, "epochs over the cached features", 1, 1e6)
      .add("batch_size", &c.stage1.batch_size, "batch size", 2, 1e6)
      .add("lr", &c.stage1.lr, "peak learning rate (Adam)", 0, 10)
      .add("weight_decay", &c.stage1.weight_decay, "weight decay", 0, 10)
      .add("warmup_epochs", &c.stage1.warmup_epochs, "linear warmup epochs", 0, 1e6)
      .add("warmup_lr", &c.stage1.warmup_lr, "learning rate at the start of warmup", 0, 10)
      .add("min_lr", &c.stage1.min_lr, "final cosine learning rate", 0, 10)
      .add("lambda_attr", &c.stage1.lambda_attr, "weight of the attribute alignment loss", 0, 1e3)
      .choice("attr_reduction", &c.stage1.attr_reduction,
              "L_attrA over images: mean, or sum (Eq. 8 as printed)",
              {{"mean", trainer::AttrReduction::kMean}, {"sum", trainer::AttrReduction::kSum}})
      .add("joint", &c.stage1.joint,
           "tokens V get the gradient of L_attrA (Eq. 9 literally); false: stop-gradient")
      .choice("pseudo_labels", &c.stage1.pseudo_labels,
              "learned; oracle (true attribute words) or permuted (oracle shuffled across ids)",
              {{"learned", trainer::PseudoLabelSource::kLearned},
               {"oracle", trainer::PseudoLabelSource::kOracle},
               {"permuted", trainer::PseudoLabelSource::kPermuted}})
      .add("token_attributes", &c.stage1.token_attributes,
           "stored attribute each template placeholder stands for (\"\": none)")
      .add("encoder_layers", &c.stage1.encoder_layers, "attribute encoder layers", 1, 64)
      .add("encoder_width", &c.stage1.encoder_width, "attribute encoder width", 8, 8192)
      .add("encoder_heads", &c.stage1.encoder_heads, "attribute encoder heads", 1, 64)
      .add("encoder_ffn", &c.stage1.encoder_ffn, "attribute encoder MLP width", 8, 65536)
      .add("attribute_vocabulary", &c.stage1.attribute_vocabulary,
           "readout prompts \"group: prompt with {}|value1|value2...\" (empty: built-in)")
      .appendTo(keys);

  KeyList("stage2")
      .choice("method", &c.stage2.method, "ag-reid (dual guidance) or clip-reid (baseline)",
              {{"ag-reid", trainer::ReidMethod::kAgReid},
               {"clip-reid", trainer::ReidMethod::kClipReid}})
      .add("epochs", &c.stage2.epochs, "epochs", 1, 1e6)
      .add("lr", &c.stage2.lr, "base learning rate (Adam)", 0, 10)
      .add("weight_decay", &c.stage2.weight_decay, "weight decay", 0, 10)
      .add("bias_lr_factor", &c.stage2.bias_lr_factor, "learning-rate factor of bias tensors", 0,
           1e3)
      .add("weight_decay_bias", &c.stage2.weight_decay_bias, "weight decay of bias tensors", 0, 10)
      .add("warmup_epochs", &c.stage2.warmup_epochs, "linear warmup epochs", 0, 1e6)
      .add("warmup_factor", &c.stage2.warmup_factor, "learning-rate factor at warmup start", 0, 1)
      .add("milestones", &c.stage2.milestones,
           "epochs where the learning rate is multiplied by gamma")
      .add("gamma", &c.stage2.gamma, "multi-step decay factor", 0, 1)
      .add("w_id", &c.stage2.w_id, "weight of the ID cross-entropy", 0, 1e3)
      .add("w_tri", &c.stage2.w_tri, "weight of the triplet loss", 0, 1e3)
      .add("w_i2t", &c.stage2.w_i2t, "weight of the image-to-text cross-entropy", 0, 1e3)
      .add("beta", &c.stage2.beta, "weight of attribute guidance (ag-reid)", 0, 1e3)
      .add("margin", &c.stage2.margin, "triplet margin", 0, 100)
      .add("label_smoothing", &c.stage2.label_smoothing, "label smoothing epsilon", 0, 1)
      .choice("attr_reduction", &c.stage2.attr_reduction,
              "L_attrG over images: mean, or sum (Eq. 14 as printed)",
              {{"mean", trainer::AttrReduction::kMean}, {"sum", trainer::AttrReduction::kSum}})
      .choice("mask", &c.stage2.mask,
              "noise mask threshold: otsu, none (gamma=-1), percentile p50/p75/p90, or oracle "
              "(true visibility of each token's body region)",
              {{"otsu", trainer::GuidanceMask::kOtsu},
               {"none", trainer::GuidanceMask::kNone},
               {"p50", trainer::GuidanceMask::kP50},
               {"p75", trainer::GuidanceMask::kP75},
               {"p90", trainer::GuidanceMask::kP90},
               {"oracle", trainer::GuidanceMask::kOracle}})
      .choice(
          "threshold_scope", &c.stage2.threshold_scope,
          "gamma from each batch, or from the previous epoch's similarities",
          {{"batch", trainer::ThresholdScope::kBatch}, {"epoch", trainer::ThresholdScope::kEpoch}})
      .add("encoder_lr_factor", &c.stage2.encoder_lr_factor, "attribute encoder lr factor", 0, 1e4)
      .add("memory_bank", &c.stage2.memory_bank, "add the sharded contrastive memory bank loss")
      .add("memory_weight", &c.stage2.memory_weight, "weight of the memory bank loss", 0, 1e3)
      .add("memory_temperature", &c.stage2.memory_temperature, "memory bank temperature", 1e-4, 10)
      .add("memory_momentum", &c.stage2.memory_momentum, "memory bank momentum", 0, 1)
      .appendTo(keys);

  KeyList("eval")
      .add("dataset", &c.eval.dataset,
           "dataset evaluated: query and gallery splits (default: run.dataset)")
      .add("rerank", &c.eval.rerank, "k-reciprocal re-ranking")
      .add("k1", &c.eval.k1, "re-ranking k1", 1, 1e5)
      .add("k2", &c.eval.k2, "re-ranking k2", 1, 1e5)
      .add("lambda", &c.eval.lambda, "re-ranking weight of the original distance", 0, 1)
      .add("max_rank", &c.eval.max_rank, "CMC curve length", 1, 1e6)
      .add("block_size", &c.eval.block_size, "query rows per distance block", 1, 1e7)
      .add("rerank_max_samples", &c.eval.rerank_max_samples,
           "re-ranking is refused above this many query + gallery samples (quadratic time)", 1, 1e9)
      .add("ranked_lists", &c.eval.ranked_lists,
           "ranked-list images written (spread, first and worst queries)", 0, 1e5)
      .choice("ranked_queries", &c.eval.ranked_queries,
              "queries shown as ranked lists: spread (evenly spaced), first, worst (lowest AP), "
              "rows or pids (those in eval.ranked_ids)",
              {"spread", "first", "worst", "rows", "pids"})
      .add("ranked_ids", &c.eval.ranked_ids,
           "query rows (ranked_queries = \"rows\") or person ids (\"pids\") shown as ranked lists")
      .add("eval_every", &c.eval.eval_every,
           "epochs between evaluations while training (0: none; agreid run still evaluates the "
           "final model)",
           0, 1e6)
      .appendTo(keys);

  KeyList("checkpoint")
      .add("every_steps", &c.checkpoint.every_steps, "steps between checkpoints (0: per epoch)", 0,
           1e12)
      .add("keep_last", &c.checkpoint.keep_last, "checkpoints kept (0: all)", 0, 1e6)
      .add("resume", &c.checkpoint.resume,
           "auto (this run's latest), none, or a checkpoint file of this run")
      .appendTo(keys);

  return keys;
}

}  // namespace agreid::launch
