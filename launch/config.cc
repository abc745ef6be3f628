#include "launch/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "base/error.h"
#include "launch/suggest.h"

namespace agreid::launch {
namespace {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

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

std::string quoteToml(const std::string& s) {
  std::ostringstream os;
  os << toml::value<std::string>(s);
  return os.str();
}

std::string formatDouble(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  std::string s = os.str();
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}

// "lo, hi" of a numeric key: integers for integer keys ("0, 1024"), floats otherwise.
std::string rangeText(const KeySpec& spec) {
  const bool integer =
      std::holds_alternative<int64_t*>(spec.field) || std::holds_alternative<uint64_t*>(spec.field);
  auto bound = [&](const std::optional<double>& b, const char* none) -> std::string {
    if (!b || !std::isfinite(*b)) return b && *b < 0 ? "-inf" : (b ? "inf" : none);
    return integer ? std::to_string(static_cast<int64_t>(*b)) : formatDouble(*b);
  };
  return bound(spec.min, "-inf") + ", " + bound(spec.max, "inf");
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
                 [&](std::string* f) {
                   if (!node.is_string()) throw wrong("a string");
                   *f = *node.value<std::string>();
                 },
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
  if (std::holds_alternative<std::string*>(spec->field)) {
    // Strings may be given bare (paths) or quoted.
    std::string v = value;
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
      try {
        v = *toml::parse("v = " + value)["v"].value<std::string>();
      } catch (const toml::parse_error& e) {
        throw InputError(where + ": invalid quoted string: " + std::string(e.description()));
      }
    }
    *std::get<std::string*>(spec->field) = v;
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

std::string typeName(const FieldRef& field) {
  return std::visit(Overloaded{
                        [](bool*) { return std::string("boolean"); },
                        [](int64_t*) { return std::string("integer"); },
                        [](uint64_t*) { return std::string("integer"); },
                        [](double*) { return std::string("float"); },
                        [](std::string*) { return std::string("string"); },
                        [](std::vector<int64_t>*) { return std::string("integer array"); },
                        [](std::vector<double>*) { return std::string("float array"); },
                        [](std::vector<std::string>*) { return std::string("string array"); },
                    },
                    field);
}

std::string tomlValue(const FieldRef& field) {
  return std::visit(Overloaded{
                        [](bool* f) { return std::string(*f ? "true" : "false"); },
                        [](int64_t* f) { return std::to_string(*f); },
                        [](uint64_t* f) { return std::to_string(*f); },
                        [](double* f) { return formatDouble(*f); },
                        [](std::string* f) { return quoteToml(*f); },
                        [](std::vector<int64_t>* f) {
                          std::string s = "[";
                          for (size_t i = 0; i < f->size(); ++i)
                            s += (i ? ", " : "") + std::to_string((*f)[i]);
                          return s + "]";
                        },
                        [](std::vector<double>* f) {
                          std::string s = "[";
                          for (size_t i = 0; i < f->size(); ++i)
                            s += (i ? ", " : "") + formatDouble((*f)[i]);
                          return s + "]";
                        },
                        [](std::vector<std::string>* f) {
                          std::string s = "[";
                          for (size_t i = 0; i < f->size(); ++i)
                            s += (i ? ", " : "") + quoteToml((*f)[i]);
                          return s + "]";
                        },
                    },
                    field);
}

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
    if (!spec.choices.empty()) {
      const std::string& s = *std::get<std::string*>(spec.field);
      if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
        std::string all;
        for (const auto& c : spec.choices) all += (all.empty() ? "" : ", ") + c;
        throw InputError("key '" + spec.key + "' = \"" + s + "\" is not one of: " + all);
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

std::string configToToml(const Config& config) {
  Config copy = config;
  std::ostringstream os;
  std::string section;
  for (const auto& spec : configKeys(copy)) {
    const std::string s = spec.key.substr(0, spec.key.find('.'));
    if (s != section) {
      os << (section.empty() ? "" : "\n") << "[" << s << "]\n";
      section = s;
    }
    os << "# " << spec.description << "\n"
       << spec.key.substr(s.size() + 1) << " = " << tomlValue(spec.field) << "\n";
  }
  return os.str();
}

std::string configReferenceMarkdown() {
  Config defaults;
  std::ostringstream os;
  os << "\nA file may start with `base = \"other.toml\"` (a path relative to the file's folder): "
        "the\n"
        "base file is read first (it may name a base of its own) and the file's keys override it,\n"
        "as `--set` overrides both.\n";
  std::string section;
  for (const auto& spec : configKeys(defaults)) {
    const std::string s = spec.key.substr(0, spec.key.find('.'));
    if (s != section) {
      os << "\n## [" << s << "]\n\n| key | type | default | range | description |\n"
         << "|---|---|---|---|---|\n";
      section = s;
    }
    std::string range;
    if (spec.min || spec.max) {
      range = "[" + rangeText(spec) + "]";
    }
    for (const auto& c : spec.choices) range += (range.empty() ? "" : " \\| ") + c;
    std::string def = tomlValue(spec.field);
    std::replace(def.begin(), def.end(), '|', '/');
    os << "| `" << spec.key << "` | " << typeName(spec.field) << " | `" << def << "` | " << range
       << " | " << spec.description << " |\n";
  }
  return os.str();
}

}  // namespace agreid::launch
