#include "trainer/stages/evaluate_model.h"

#include <torch/torch.h>

#include <filesystem>

#include "base/error.h"
#include "data/dataset.h"
#include "trainer/eval/attribute_probe.h"
#include "trainer/eval/features_file.h"
#include "trainer/eval/results.h"
#include "trainer/eval/visualize.h"
#include "trainer/model/reid_model.h"
#include "trainer/stages/feature_pass.h"

namespace agreid::trainer {
namespace {

FeatureSet splitFeatures(ReidModel& model, const ModelEvalSetup& setup,
                         const data::DatasetReader& reader, data::Split split, StageContext& ctx) {
  FeatureSet set;
  const auto indices = reader.indicesOf(split);
  if (indices.empty()) {
    throw InputError(setup.dataset + ": the dataset has no " + data::splitName(split) + " split");
  }
  const auto& table = reader.samples();
  for (int64_t i : indices) {
    set.pid.push_back(table.pid[i]);
    set.camid.push_back(table.camid[i]);
    set.index.push_back(i);
    set.occluded.push_back(table.occluded[i]);
  }
  FeaturePassOptions pass;
  pass.dataset = setup.dataset;
  pass.indices = indices;
  pass.transform = setup.transform;
  pass.loader = setup.loader;
  pass.label = std::string("eval ") + data::splitName(split);
  set.features = encodeDataset(
      pass, [&](const at::Tensor& x, const at::Tensor& cams) { return model.forwardTest(x, cams); },
      ctx);
  set.info.dataset = setup.dataset;
  set.info.dataset_checksum = reader.info().checksum;
  set.info.split = data::splitName(split);
  set.info.kind = "reid";
  set.info.weights = setup.weights;
  return set;
}

// The linear attribute probe on the query and gallery features, when the dataset stores
// attributes: attribute_probe.json next to results.json and a summary in the log (rank 0).
void writeAttributeProbe(const std::string& dataset, const std::string& out_dir,
                         const FeatureSet& query, const FeatureSet& gallery, const Log& log) {
  if (log.rank() != 0) return;
  data::DatasetReader reader(dataset);
  const auto& info = reader.info();
  const int64_t groups = static_cast<int64_t>(info.attribute_names.size());
  if (groups == 0) return;
  std::vector<int64_t> rows = query.index;
  rows.insert(rows.end(), gallery.index.begin(), gallery.index.end());
  std::vector<int64_t> pids = query.pid;
  pids.insert(pids.end(), gallery.pid.begin(), gallery.pid.end());
  const int64_t n = static_cast<int64_t>(rows.size());
  at::Tensor truth = torch::empty({n, groups}, torch::kLong);
  at::Tensor visibility;
  if (info.has_visibility) visibility = torch::empty({n, groups}, torch::kFloat);
  auto ta = truth.accessor<int64_t, 2>();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      const size_t cell = static_cast<size_t>(rows[r] * groups + g);
      ta[r][g] = reader.attributes()[cell];
      if (visibility.defined()) visibility.accessor<float, 2>()[r][g] = reader.visibility()[cell];
    }
  const at::Tensor features = torch::cat({query.features, gallery.features}, 0);
  const AttributeProbeReport report =
      probeAttributes(features, pids, truth, visibility, info.attribute_names, {});
  for (const auto& line : describeAttributeProbe(report)) log.info(line);
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) throw InputError(out_dir + ": cannot create the output folder: " + ec.message());
    writeFileAtomically((std::filesystem::path(out_dir) / "attribute_probe.json").string(),
                        attributeProbeJson(report));
  }
}

}  // namespace

void writeEvalOutputs(const std::string& out_dir, const EvalResults& results,
                      const FeatureSet& query, const FeatureSet& gallery,
                      const std::string& images_dataset, const Log& log) {
  if (log.rank() != 0 || out_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw InputError(out_dir + ": cannot create the output folder: " + ec.message());
  const std::filesystem::path out(out_dir);
  writeResultsJson((out / "results.json").string(), results);
  writeFileAtomically((out / "cmc.svg").string(), cmcSvg(results, out_dir));
  if (!results.ranked.empty() && std::filesystem::exists(images_dataset)) {
    data::DatasetReader images(images_dataset);
    writeRankedListImages((out / "ranked").string(), results.ranked, query, gallery, images,
                          images);
  }
}

EvalResults evaluateModel(ReidModel& model, const ModelEvalSetup& setup, StageContext& ctx) {
  if (!std::filesystem::exists(setup.dataset)) {
    throw InputError(setup.dataset + ": dataset file not found (eval.dataset / run.dataset)");
  }
  model.to(ctx.device);
  model.eval();
  FeatureSet query, gallery;
  {
    // Metadata only: the loaders open their own readers, and this thread makes no HDF5 call
    // while they run.
    data::DatasetReader reader(setup.dataset);
    query = splitFeatures(model, setup, reader, data::Split::kQuery, ctx);
    gallery = splitFeatures(model, setup, reader, data::Split::kGallery, ctx);
  }
  EvaluateRequest request = rankedListRequest(query, setup.eval);
  reportProgress(request, setup.eval, ctx.log);
  EvalResults results = evaluate(query, gallery, setup.eval, &ctx.hostComm(), request);
  // The probe before results.json, whose presence marks a complete evaluation.
  writeAttributeProbe(setup.dataset, setup.out_dir, query, gallery, ctx.log);
  writeEvalOutputs(setup.out_dir, results, query, gallery, setup.dataset, ctx.log);
  return results;
}

}  // namespace agreid::trainer
