#include "launch/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/error.h"
#include "launch/config_text.h"
#include "launch/suggest.h"

namespace agreid::launch {
namespace {

std::string nearestKey(const std::string& key, const std::vector<KeySpec>& keys) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : keys) {
    size_t d = editDistance(key, k.key);
    // Also compare the name part alone, so "stage2.learning_rat" finds "stage2.lr" less often
    // than "stage2.margn" finds "stage2.margin".
    if (d < best_d) {
      best_d = d;
      best = k.key;
    }
  }
  return best;
}

std::string nodeTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// `where` (file:line or --set ...) prefixes the message when known.
[[noreturn]] void notOneOf(const KeySpec& spec, const std::string& value,
                           const std::string& where = "") {
  std::string all;
  for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
  throw InputError((where.empty() ? "" : where + ": ") + "key '" + spec.key + "' = \"" + value +
                   "\" is not one of: " + all);
}

// Sets a string or enum key from its spelling (an enum key only to one of its choices).
void assignText(const KeySpec& spec, const std::string& value, const std::string& where) {
  if (auto* s = std::get_if<std::string*>(&spec.field)) {
    **s = value;
    return;
  }
  const EnumField& f = std::get<EnumField>(spec.field);
  const auto it = std::find(f.names.begin(), f.names.end(), value);
  if (it == f.names.end()) notOneOf(spec, value, where);
  f.set(f.field, f.values[it - f.names.begin()]);
}

// Assigns a TOML node to a field; `where` names the source for messages. Throws InputError.
void assign(const KeySpec& spec, const toml::node& node, const std::string& where) {
  auto wrong = [&](const std::string& expected) {
    return InputError(where + ": key '" + spec.key + "' expects " + expected + ", got " +
                      nodeTypeName(node));
  };
  auto read_int = [&](const toml::node& n) -> std::optional<int64_t> {
    if (auto v = n.value_exact<int64_t>()) return *v;
    return std::nullopt;
  };
  auto read_double = [&](const toml::node& n) -> std::optional<double> {
    if (n.is_floating_point()) return *n.value<double>();
    if (n.is_integer()) return static_cast<double>(*n.value<int64_t>());
    return std::nullopt;
  };
  auto text = [&] {
    if (!node.is_string()) throw wrong("a string");
    assignText(spec, *node.value<std::string>(), where);
  };
  std::visit(Overloaded{
                 [&](bool* f) {
                   if (!node.is_boolean()) throw wrong("a boolean");
                   *f = *node.value<bool>();
                 },
                 [&](int64_t* f) {
                   auto v = read_int(node);
                   if (!v) throw wrong("an integer");
                   *f = *v;
                 },
                 [&](uint64_t* f) {
                   auto v = read_int(node);
                   if (!v || *v < 0) throw wrong("a non-negative integer");
                   *f = static_cast<uint64_t>(*v);
                 },
                 [&](double* f) {
                   auto v = read_double(node);
                   if (!v) throw wrong("a number");
                   *f = *v;
                 },
                 [&](std::string*) { text(); },
                 [&](const EnumField&) { text(); },
                 [&](std::vector<int64_t>* f) {
                   const toml::array* arr = node.as_array();
                   if (!arr) throw wrong("an array of integers");
                   std::vector<int64_t> out;
                   for (const auto& e : *arr) {
                     auto v = read_int(e);
                     if (!v) throw wrong("an array of integers");
                     out.push_back(*v);
                   }
                   *f = out;
                 },
                 [&](std::vector<double>* f) {
                   const toml::array* arr = node.as_array();
                   if (!arr) throw wrong("an array of numbers");
                   std::vector<double> out;
                   for (const auto& e : *arr) {
                     auto v = read_double(e);
                     if (!v) throw wrong("an array of numbers");
                     out.push_back(*v);
                   }
                   *f = out;
                 },
                 [&](std::vector<std::string>* f) {
                   const toml::array* arr = node.as_array();
                   if (!arr) throw wrong("an array of strings");
                   std::vector<std::string> out;
                   for (const auto& e : *arr) {
                     if (!e.is_string()) throw wrong("an array of strings");
                     out.push_back(*e.value<std::string>());
                   }
                   *f = out;
                 },
             },
             spec.field);
}

const KeySpec* findKey(const std::vector<KeySpec>& keys, const std::string& key) {
  for (const auto& k : keys)
    if (k.key == key) return &k;
  return nullptr;
}

[[noreturn]] void unknownKey(const std::string& where, const std::string& key,
                             const std::vector<KeySpec>& keys) {
  throw InputError(where + ": unknown key '" + key + "' (did you mean '" + nearestKey(key, keys) +
                   "'?)");
}

// `text` given: parsed as the contents of `path` (a recorded configuration). A top-level
// `base = "other.toml"` (relative to the file's folder) is applied first, then this file's keys;
// `chain` holds the files being applied, to refuse a cycle.
void applyFile(const std::string& path, std::vector<KeySpec>& keys,
               const std::string* text = nullptr, std::vector<std::string> chain = {}) {
  std::error_code ec;
  if (text == nullptr && !std::filesystem::is_regular_file(path, ec)) {
    throw InputError(path + ": config file not found");
  }
  toml::table root;
  try {
    root = text == nullptr ? toml::parse_file(path) : toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw InputError(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                     ": invalid TOML: " + std::string(e.description()));
  }
  chain.push_back(path);
  if (const toml::node* base = root.get("base")) {
    const std::string where = path + ":" + std::to_string(base->source().begin.line);
    const auto name = base->value<std::string>();
    if (!name || name->empty()) throw InputError(where + ": 'base' must name a TOML file");
    const std::filesystem::path base_path = std::filesystem::path(*name).is_absolute()
                                                ? std::filesystem::path(*name)
                                                : std::filesystem::path(path).parent_path() / *name;
    for (const auto& f : chain) {
      std::error_code ec;
      if (std::filesystem::equivalent(f, base_path, ec)) {
        throw InputError(where + ": base '" + *name + "' includes itself (" + f + ")");
      }
    }
    if (!std::filesystem::is_regular_file(base_path)) {
      throw InputError(where + ": base config file " + base_path.string() + " not found");
    }
    applyFile(base_path.string(), keys, nullptr, chain);
  }
  for (auto&& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    if (section == "base") continue;
    const std::string where_section = path + ":" + std::to_string(section_key.source().begin.line);
    const toml::table* table = section_node.as_table();
    if (!table) {
      unknownKey(where_section, section, keys);
    }
    for (auto&& [name_key, node] : *table) {
      const std::string key = section + "." + std::string(name_key.str());
      const std::string where = path + ":" + std::to_string(name_key.source().begin.line);
      const KeySpec* spec = findKey(keys, key);
      if (!spec) unknownKey(where, key, keys);
      assign(*spec, node, where);
    }
  }
}

void applySet(const std::string& set, std::vector<KeySpec>& keys) {
  const std::string where = "--set " + set;
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(where + ": expected section.key=value");
  }
  const std::string key = set.substr(0, eq);
  const std::string value = set.substr(eq + 1);
  if (key.find('.') == std::string::npos) {
    throw InputError(where + ": expected section.key=value (the key has no section)");
  }
  const KeySpec* spec = findKey(keys, key);
  if (!spec) unknownKey(where, key, keys);
  if (std::holds_alternative<std::string*>(spec->field) ||
      std::holds_alternative<EnumField>(spec->field)) {
    // Strings may be given bare (paths) or quoted.
    std::string v = value;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
      try {
        v = *toml::parse("v = " + value)["v"].value<std::string>();
      } catch (const toml::parse_error& e) {
        throw InputError(where + ": invalid quoted string: " + std::string(e.description()));
      }
    }
    assignText(*spec, v, where);
    return;
  }
  if (value.empty()) throw InputError(where + ": missing value after '='");
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error& e) {
    throw InputError(where + ": cannot parse value '" + value +
                     "': " + std::string(e.description()));
  }
  assign(*spec, *parsed.get("v"), where);
}

}  // namespace

void validateConfig(Config& config) {
  for (const auto& spec : configKeys(config)) {
    double v = 0;
    bool numeric = true;
    if (auto p = std::get_if<int64_t*>(&spec.field)) {
      v = static_cast<double>(**p);
    } else if (auto p = std::get_if<uint64_t*>(&spec.field)) {
      v = static_cast<double>(**p);
    } else if (auto p = std::get_if<double*>(&spec.field)) {
      v = **p;
      if (!std::isfinite(v)) {
        throw InputError("key '" + spec.key + "' must be finite, got " + formatDouble(v));
      }
    } else {
      numeric = false;
    }
    if (numeric && ((spec.min && v < *spec.min) || (spec.max && v > *spec.max))) {
      std::ostringstream os;
      os << "key '" << spec.key << "' = " << tomlValue(spec.field) << " is out of range ["
         << rangeText(spec) << "]";
      throw InputError(os.str());
    }
    // Enum keys hold one of their choices by construction.
    if (auto* s = std::get_if<std::string*>(&spec.field); s && !spec.choices.empty()) {
      if (std::find(spec.choices.begin(), spec.choices.end(), **s) == spec.choices.end()) {
        notOneOf(spec, **s);
      }
    }
  }
  if (config.transform.mean.size() != 3 || config.transform.std.size() != 3) {
    throw InputError("keys 'data.mean' and 'data.std' need 3 values (RGB)");
  }
  for (double s : config.transform.std) {
    if (s <= 0) throw InputError("key 'data.std' values must be positive");
  }
  // Rows and pids beyond the query set are found when the features are read (visualize.h).
  const trainer::EvalOptions& eval = config.eval;
  const bool by_ids = eval.ranked_queries == "rows" || eval.ranked_queries == "pids";
  if (by_ids && eval.ranked_ids.empty()) {
    throw InputError("key 'eval.ranked_ids' is empty, but eval.ranked_queries = \"" +
                     eval.ranked_queries + "\" shows the queries it lists");
  }
  if (!by_ids && !eval.ranked_ids.empty()) {
    throw InputError("key 'eval.ranked_ids' is set, but eval.ranked_queries = \"" +
                     eval.ranked_queries + "\" does not read it (use \"rows\" or \"pids\")");
  }
  for (int64_t id : eval.ranked_ids) {
    if (id < 0) {
      throw InputError("key 'eval.ranked_ids' holds " + std::to_string(id) +
                       "; query rows and person ids are >= 0");
    }
  }
}

Config loadConfig(const ConfigSources& sources) {
  Config config;
  auto keys = configKeys(config);
  if (!sources.file.empty()) applyFile(sources.file, keys);
  for (const auto& s : sources.sets) applySet(s, keys);
  validateConfig(config);
  return config;
}

Config configFromToml(const std::string& text, const std::string& origin) {
  Config config;
  auto keys = configKeys(config);
  applyFile(origin, keys, &text);
  validateConfig(config);
  return config;
}

}  // namespace agreid::launch
