// Evaluation pictures for the run directory: the CMC curve as a hand-written SVG, and ranked-list
// images (the query, then its top gallery items; green border: same pid, red: different pid) as
// JPEGs. Images come from the dataset files through data::DatasetReader. No collectives (call on
// one rank); not thread-safe (HDF5).
#pragma once

#include <string>
#include <vector>

#include "trainer/eval/features_file.h"
#include "trainer/eval/metrics.h"

namespace agreid::data {
class DatasetReader;
}

namespace agreid::trainer {

// An SVG document (axes, ticks, grid, one curve per query set, a legend sized to its lines, labels)
// titled "CMC curve: <title>" (the run or features it shows; plain "CMC curve" when empty).
std::string cmcSvg(const EvalResults& results, const std::string& title = "");

// `count` query rows spread evenly over `rows`.
std::vector<int64_t> spreadRows(int64_t rows, int64_t count);

// The ranked lists that eval.ranked_queries asks for on `query`: "spread" (eval.ranked_lists rows
// spread evenly), "first" (the first eval.ranked_lists rows), "worst" (the eval.ranked_lists
// queries of lowest AP), "rows" (the query rows in eval.ranked_ids) or "pids" (every query row of
// the person ids in eval.ranked_ids). Throws InputError naming eval.ranked_ids for a row outside
// the query set or a pid no query has.
EvaluateRequest rankedListRequest(const FeatureSet& query, const EvalOptions& options);

struct RankedListImageOptions {
  int cell_height = 128;
  int cell_width = 64;
  int border = 4;
  int quality = 90;
};

// Writes `<dir>/query_<row>.jpg` per list and `<dir>/index.md` (one table row per image, in list
// order: query pid/camera/dataset index, its AP, and each gallery item's pid, camera and distance;
// cameras named as data::cameraName does for their dataset). `query_images` and
// `gallery_images` read the dataset files the features were extracted from (FeatureSet::index
// maps a row to its sample). Creates `dir`. Throws InputError naming the sample for a corrupt
// image or an index outside the dataset.
void writeRankedListImages(const std::string& dir, const std::vector<RankedList>& lists,
                           const FeatureSet& query, const FeatureSet& gallery,
                           const data::DatasetReader& query_images,
                           const data::DatasetReader& gallery_images,
                           const RankedListImageOptions& options = {});

}  // namespace agreid::trainer
