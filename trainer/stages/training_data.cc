#include "trainer/stages/training_data.h"

#include <algorithm>
#include <filesystem>

#include "base/error.h"
#include "data/dataset.h"

namespace agreid::trainer {

TrainingData loadTrainingData(const std::string& dataset) {
  if (dataset.empty()) throw InputError("run.dataset: no dataset file given");
  if (!std::filesystem::exists(dataset)) {
    throw InputError(dataset + ": dataset file not found (run.dataset)");
  }
  TrainingData d;
  d.reader = std::make_shared<data::DatasetReader>(dataset);
  const auto& table = d.reader->samples();
  d.indices = d.reader->indicesOf(data::Split::kTrain);
  if (d.indices.empty()) throw InputError(dataset + ": the dataset has no train split");
  std::vector<char> seen;
  for (int64_t i : d.indices) {
    const int64_t label = table.label[i];
    if (label < 0) {
      throw InputError(dataset + ": train sample " + std::to_string(i) + " (" + table.path[i] +
                       ") has no training label");
    }
    d.labels.push_back(label);
    d.cameras.push_back(table.camid[i]);
    if (static_cast<size_t>(label) >= seen.size()) seen.resize(label + 1, 0);
    seen[label] = 1;
  }
  d.num_ids = static_cast<int64_t>(seen.size());
  if (std::find(seen.begin(), seen.end(), 0) != seen.end()) {
    throw InputError(dataset + ": training labels are not contiguous 0.." +
                     std::to_string(d.num_ids - 1));
  }
  for (size_t i = 0; i < table.size(); ++i) {
    d.num_cameras = std::max<int64_t>(d.num_cameras, table.camid[i] + 1);
  }
  return d;
}

}  // namespace agreid::trainer
