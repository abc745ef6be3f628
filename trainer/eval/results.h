// Evaluation results as files and text: results.json, a Markdown table, and the JSON reader the
// tests and the benchmark use. Pure functions; thread-safe; no collectives (call on rank 0).
//
// results.json:
//   {"mAP": .., "rank1": .., "rank5": .., "rank10": .., "rank20": .., "mINP": ..,
//    "num_query": .., "num_valid_query": .., "num_gallery": .., "reranked": false,
//    "cmc": [..max_rank values..],
//    "subsets": {"holistic": {same keys but num_gallery/subsets}, "occluded": {...}}}
// Rates are fractions in [0, 1]; a value that is undefined (no valid query, or a rank beyond
// max_rank) is written as null.
#pragma once

#include "trainer/util/atomic_file.h"  // writeFileAtomically

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainer/eval/metrics.h"

namespace agreid::trainer {

std::string resultsToJson(const EvalResults& results);

// The ranking metrics of results.json in display order (mAP, rank1, rank5, rank10, rank20, mINP):
// each appears at the top level and under subsets.holistic / subsets.occluded.
const std::vector<std::string>& resultRankingMetrics();
// The query-set prefixes of the flattened keys: "", "subsets.holistic.", "subsets.occluded.".
const std::vector<std::string>& resultSubsetPrefixes();

// Writes resultsToJson to `path` through a temporary file and a rename.
void writeResultsJson(const std::string& path, const EvalResults& results);

// A Markdown table: one row per query set (all, holistic, occluded), percentages with 2 decimals.
std::string resultsMarkdown(const EvalResults& results);

// One line per evaluation: "all mAP 52.10 R1 60.00, holistic mAP ..., occluded mAP ..." (%).
std::string resultsSummary(const EvalResults& results);

// The metrics.jsonl record of an evaluation at training step `step` (epoch 0-based), one JSON
// object on one line, numbers with 17 significant digits (NaN as null):
//   {"stage":"eval","step":120,"epoch":3,"all":{"mAP":..,"rank1":..,"rank5":..,"rank10":..,
//    "rank20":..,"mINP":..,"num_query":..},"holistic":{...},"occluded":{...}}
// (holistic and occluded when the results have them; no "epoch" when `epoch` < 0, as for the
// evaluation `agreid run` makes of the finished model).
std::string evalMetricsRecord(int64_t step, int64_t epoch, const EvalResults& results);
// Its TensorBoard scalars: "eval/<group>/<metric>" for the same groups and rate metrics.
std::map<std::string, double> evalMetricsScalars(const EvalResults& results);

}  // namespace agreid::trainer
