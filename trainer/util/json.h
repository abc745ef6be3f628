// JSON for every file and printout agreid writes or reads (nlohmann-json, Debian's
// nlohmann-json3-dev): results.json, the stage summaries, metrics.jsonl, `prompt --json`; and the
// readers of Hugging Face config.json, safetensors headers and results.json.
//
// Writing: objects keep the order in which keys were added (`OrderedJson`). A number that is not
// finite (NaN, infinity) is written as null -- never as `nan` or `Infinity`, which are not JSON --
// so a reader sees "undefined" rather than a parse error. Bytes in strings that are not UTF-8 (a
// path's, say) are written as U+FFFD.
// Reading: strict RFC 8259 -- NaN/Infinity literals, comments, trailing commas, a key repeated
// in one object and nesting deeper than 64 levels are refused with one line naming the file.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace agreid::trainer {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Parses one JSON document (white space around it allowed). Throws InputError
// "<where>: malformed JSON at byte N (<what>)".
Json parseJson(const std::string& text, const std::string& where);

// The member `key` of an object, or nullptr when absent (or `object` is not an object).
const Json* jsonMember(const Json& object, const std::string& key);
// The value of an integer that fits int64 (1e3 and 3.0 are not integers here); nullopt otherwise.
std::optional<int64_t> jsonInt64(const Json& value);

// The text of `value`: one line when `indent` < 0, else pretty-printed with that many spaces per
// level; no trailing newline.
std::string jsonText(const OrderedJson& value, int indent = -1);

}  // namespace agreid::trainer
