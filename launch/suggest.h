// "Did you mean" suggestions for mistyped commands, options and configuration keys.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace agreid::launch {

// Levenshtein distance (insertions, deletions, substitutions of bytes).
size_t editDistance(const std::string& a, const std::string& b);

// The candidate nearest to `word`, or "" when none is within `max_distance` edits (first of
// equals wins).
std::string nearestWord(const std::string& word, const std::vector<std::string>& candidates,
                        size_t max_distance);

}  // namespace agreid::launch
