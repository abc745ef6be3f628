#include "launch/config_text.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "base/check.h"

namespace agreid::launch {

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

std::string rangeText(const KeySpec& spec) {
  const bool integer =
      std::holds_alternative<int64_t*>(spec.field) || std::holds_alternative<uint64_t*>(spec.field);
  auto bound = [&](const std::optional<double>& b, const char* none) -> std::string {
    if (!b || !std::isfinite(*b)) return b && *b < 0 ? "-inf" : (b ? "inf" : none);
    return integer ? std::to_string(static_cast<int64_t>(*b)) : formatDouble(*b);
  };
  return bound(spec.min, "-inf") + ", " + bound(spec.max, "inf");
}

const std::string& EnumField::name() const {
  const int v = get(field);
  size_t i = 0;
  while (i < values.size() && values[i] != v) ++i;
  AGREID_CHECK(i < values.size(), "enum value ", v, " has no spelling");
  return names[i];
}

std::string typeName(const FieldRef& field) {
  return std::visit(Overloaded{
                        [](bool*) { return std::string("boolean"); },
                        [](int64_t*) { return std::string("integer"); },
                        [](uint64_t*) { return std::string("integer"); },
                        [](double*) { return std::string("float"); },
                        [](std::string*) { return std::string("string"); },
                        [](const EnumField&) { return std::string("string"); },
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
                        [](const EnumField& f) { return quoteToml(f.name()); },
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
        "as `--set` overrides both.\n\n"
        "Keys whose default follows another key (`pretrain.out`, `stage1.cache_dir`, "
        "`eval.dataset`)\n"
        "show `''` here; every command resolves them once, and `agreid config show` prints the\n"
        "resolved values.\n";
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
