// The resolved configuration of one agreid invocation: every module's options struct, filled from
// defaults, then a TOML file, then `--set section.key=value` overrides, then validated.
//
// Every key, its default (the struct member's initialiser), its one-line description and its
// allowed range live in one place: launch/config_schema.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "data/options.h"
#include "trainer/options.h"

namespace agreid::launch {

struct Config {
  trainer::RunOptions run;
  data::TransformOptions transform;
  data::LoaderOptions loader;
  data::SamplerOptions sampler;
  data::SynthOptions synth;
  trainer::ClipArchOptions clip;
  trainer::PretrainOptions pretrain;
  trainer::ModelOptions model;
  trainer::Stage1Options stage1;
  trainer::Stage2Options stage2;
  trainer::EvalOptions eval;
  trainer::CheckpointOptions checkpoint;
};

// A choice key held as an enum: the key's spellings (KeySpec::choices) stand for `values`, in
// order, so the choice is parsed once, here at the edge, and the code compares enums.
struct EnumField {
  void* field = nullptr;
  int (*get)(const void* field) = nullptr;
  void (*set)(void* field, int value) = nullptr;
  std::vector<std::string> names;
  std::vector<int> values;
  const std::string& name() const;  // the spelling of the current value
};

template <typename E>
EnumField enumField(E* field, const std::vector<std::pair<std::string, E>>& choices) {
  EnumField f;
  f.field = field;
  f.get = [](const void* p) { return static_cast<int>(*static_cast<const E*>(p)); };
  f.set = [](void* p, int v) { *static_cast<E*>(p) = static_cast<E>(v); };
  for (const auto& [name, value] : choices) {
    f.names.push_back(name);
    f.values.push_back(static_cast<int>(value));
  }
  return f;
}

using FieldRef =
    std::variant<bool*, int64_t*, uint64_t*, double*, std::string*, std::vector<int64_t>*,
                 std::vector<double>*, std::vector<std::string>*, EnumField>;

// One configuration key bound to a field of a Config instance.
struct KeySpec {
  std::string key;  // "section.name"
  FieldRef field;
  std::string description;
  std::optional<double> min;  // numeric keys: inclusive bounds
  std::optional<double> max;
  std::vector<std::string> choices;  // string and enum keys: allowed values (empty: any)
};

// All keys of `config`, bound to its fields, in documentation order.
std::vector<KeySpec> configKeys(Config& config);

// Type name of a key for messages and docs ("integer", "float", "string", ...).
std::string typeName(const FieldRef& field);

// Current value of a key as a TOML literal.
std::string tomlValue(const FieldRef& field);

// Where overrides come from.
struct ConfigSources {
  std::string file;  // TOML file (may name a `base` file it overrides); empty: defaults only
  std::vector<std::string> sets;  // "section.key=value" overrides, applied in order
};

// Loads defaults, the file and the overrides, then validates. Throws InputError with a one-line
// message naming the file:line, key and what was expected.
Config loadConfig(const ConfigSources& sources);

// A configuration recorded as TOML text (a run folder's config.toml, a checkpoint's config) on top
// of the defaults; `origin` names it in messages. Throws InputError like loadConfig.
Config configFromToml(const std::string& text, const std::string& origin);

// Throws InputError when a value is outside its range or choices.
void validateConfig(Config& config);

// The resolved configuration as TOML, each key preceded by its description as a comment.
std::string configToToml(const Config& config);

// Markdown reference of every key (docs/configuration.md is generated from it).
std::string configReferenceMarkdown();

}  // namespace agreid::launch
