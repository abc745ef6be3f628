// Evaluation of a trained re-ID model on the query and gallery splits of a dataset file: both
// splits are encoded by all ranks (each its shard, test transforms, the L2-normalised
// cat(f, f_proj) test feature), scored with the standard protocol (trainer/eval/metrics.h), and
// rank 0 writes results.json, cmc.svg and ranked-list images into `out_dir`.
//
// All ranks must call evaluateModel() together.
#pragma once

#include <string>

#include "data/options.h"
#include "trainer/eval/metrics.h"
#include "trainer/options.h"
#include "trainer/stages/stage_context.h"

namespace agreid::trainer {

class ReidModel;

struct ModelEvalSetup {
  std::string dataset;  // file with query and gallery splits
  data::TransformOptions transform;
  data::LoaderOptions loader;
  EvalOptions eval;
  std::string out_dir;  // results.json, cmc.svg, ranked/ (rank 0); empty: write nothing
  std::string weights;  // recorded in the features' info
};

EvalResults evaluateModel(ReidModel& model, const ModelEvalSetup& setup, StageContext& ctx);

// results.json, cmc.svg and ranked-list images of `results` into `out_dir` (rank 0 only).
void writeEvalOutputs(const std::string& out_dir, const EvalResults& results,
                      const FeatureSet& query, const FeatureSet& gallery,
                      const std::string& images_dataset, const Log& log);

}  // namespace agreid::trainer
