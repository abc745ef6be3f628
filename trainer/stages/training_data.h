// The training split of a re-ID dataset file as the stages need it: sample indices, contiguous
// training labels, and the identity and camera counts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace agreid::data {
class DatasetReader;
}

namespace agreid::trainer {

struct TrainingData {
  std::shared_ptr<data::DatasetReader> reader;
  std::vector<int64_t> indices;  // train samples, in file order
  std::vector<int64_t> labels;   // their contiguous labels 0..num_ids-1
  std::vector<int64_t> cameras;  // their camera ids
  int64_t num_ids = 0;
  int64_t num_cameras = 0;  // over the whole file (SIE needs every camera)
};

// Throws InputError naming the file when it has no train split or its labels are not contiguous.
TrainingData loadTrainingData(const std::string& dataset);

}  // namespace agreid::trainer
