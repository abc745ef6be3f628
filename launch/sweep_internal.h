// Helpers shared by the sweep sources (sweep_spec.cc, sweep_points.cc); not part of the sweep
// API.
#pragma once

#include <string>
#include <vector>

#include "launch/sweep_spec.h"

namespace agreid::launch {

// The shortest decimal form (at most `max_digits` significant digits) that reads back as `v`, as
// a TOML float.
std::string sweepFormatDouble(double v, int max_digits = 17);

// Loads the configuration spec.base_config + `sets`; an InputError is rethrown as
// "`where`: <reason>", dropping the config loader's "--set KEY=VALUE: " prefix when it names
// `last_set` (the override under test).
void checkSweepConfig(const SweepSpec& spec, const std::vector<std::string>& sets,
                      const std::string& where, const std::string& last_set = "");

// Throws InputError "`where`: unknown metric ..." unless results.json holds `metric` (a ranking
// metric, optionally of the holistic or occluded queries).
void checkSweepMetric(const std::string& where, const std::string& metric);

}  // namespace agreid::launch
