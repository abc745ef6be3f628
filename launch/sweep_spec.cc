#include "launch/sweep_spec.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <variant>

#include "base/error.h"
#include "launch/config.h"
#include "launch/sweep_internal.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDistributionNames[] = {"uniform", "log_uniform", "choice"};

int64_t lineOf(const toml::node& node) { return node.source().begin.line; }

// A TOML value as the literal `--set key=LITERAL` takes. Throws InputError for tables.
std::string literal(const toml::node& node, const std::string& where) {
  if (auto s = node.as_string()) return tomlBasicString(s->get());
  if (auto i = node.as_integer()) return std::to_string(i->get());
  if (auto d = node.as_floating_point()) return sweepFormatDouble(d->get());
  if (auto b = node.as_boolean()) return b->get() ? "true" : "false";
  if (auto a = node.as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + literal(*a->get(i), where);
    return out + "]";
  }
  throw InputError(where + ": expected a number, string, boolean or array value");
}

// The schema entry of `key`, or nullptr.
const KeySpec* schemaKey(const std::vector<KeySpec>& keys, const std::string& key) {
  for (const auto& k : keys)
    if (k.key == key) return &k;
  return nullptr;
}

void collectLeaves(const toml::table& table, const std::string& prefix, bool random,
                   std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (auto&& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (random && prefix.empty() && key == "samples") continue;
    const toml::table* sub = node.as_table();
    bool leaf = sub == nullptr;
    if (random && sub) {
      // A distribution: a table naming one, or one whose values are not tables.
      bool nested = false;
      for (auto&& [sk, sn] : *sub) nested = nested || sn.is_table();
      leaf = !nested;
      for (const char* name : kDistributionNames) leaf = leaf || sub->contains(name);
    }
    if (leaf) {
      out.emplace_back(key, &node);
    } else {
      collectLeaves(*sub, key, random, out);
    }
  }
}

// toml++ tables iterate in key order; parameters keep the spec file's order.
void sortByLine(std::vector<std::pair<std::string, const toml::node*>>& leaves) {
  std::stable_sort(leaves.begin(), leaves.end(), [](const auto& a, const auto& b) {
    return lineOf(*a.second) < lineOf(*b.second);
  });
}

class SpecParser {
 public:
  SpecParser(SweepSpec& spec, const toml::table& root) : spec_(spec), root_(root) {}

  void parse(const std::string& dir_override) {
    for (auto&& [k, node] : root_) {
      const std::string name(k.str());
      if (name != "sweep" && name != "grid" && name != "random") {
        throw InputError(at(node) + ": unknown table '" + name +
                         "' (expected [sweep], [grid] and/or [random])");
      }
      if (!node.is_table()) throw InputError(at(node) + ": '" + name + "' must be a table");
    }
    parseSweepTable(dir_override);
    checkSweepConfig(spec_, spec_.sets, spec_.path + ": [sweep]");
    {
      Config base = loadConfig({spec_.base_config, spec_.sets});
      spec_.cache_dir_given = !base.stage1.cache_dir.empty();
    }
    config_ = std::make_unique<Config>();
    keys_ = configKeys(*config_);
    if (auto grid = root_["grid"].as_table()) parseGrid(*grid);
    if (auto random = root_["random"].as_table()) parseRandom(*random);
    if (spec_.grid.empty() && spec_.random.empty()) {
      throw InputError(spec_.path + ": no keys in [grid] or [random]: nothing to sweep");
    }
    std::map<std::string, int64_t> seen;
    for (const auto* params : {&spec_.grid, &spec_.random}) {
      for (const auto& p : *params) {
        if (p.key == "run.out_dir") {
          throw InputError(spec_.path + ":" + std::to_string(p.line) +
                           ": run.out_dir cannot be swept: the sweep gives every point its own "
                           "folder under sweep.dir");
        }
        if (p.key == "stage1.cache_dir") spec_.cache_dir_given = true;
        if (!seen.emplace(p.key, p.line).second) {
          throw InputError(spec_.path + ":" + std::to_string(p.line) + ": key '" + p.key +
                           "' is swept twice (also on line " + std::to_string(seen[p.key]) + ")");
        }
      }
    }
  }

 private:
  std::string at(const toml::node& node) const {
    return spec_.path + ":" + std::to_string(lineOf(node));
  }

  void parseSweepTable(const std::string& dir_override) {
    std::string dir = "runs/sweeps/" + spec_.name;
    if (auto sweep = root_["sweep"].as_table()) {
      for (auto&& entry : *sweep) {  // not a structured binding: lambdas below capture node
        const std::string key(entry.first.str());
        const toml::node& node = entry.second;
        const std::string where = at(node) + ": sweep." + key;
        auto str = [&]() {
          if (!node.is_string()) throw InputError(where + " expects a string");
          return *node.value<std::string>();
        };
        auto integer = [&](int64_t min) {
          auto v = node.value_exact<int64_t>();
          if (!v || *v < min) {
            throw InputError(where + " expects an integer >= " + std::to_string(min));
          }
          return *v;
        };
        auto strings = [&]() {
          std::vector<std::string> out;
          const toml::array* a = node.as_array();
          if (!a) throw InputError(where + " expects an array of strings");
          for (const auto& e : *a) {
            if (!e.is_string()) throw InputError(where + " expects an array of strings");
            out.push_back(*e.value<std::string>());
          }
          return out;
        };
        if (key == "base_config") {
          fs::path p = str();
          if (p.is_relative()) p = fs::path(spec_.path).parent_path() / p;
          std::error_code ec;
          if (!fs::is_regular_file(p, ec)) {
            throw InputError(where + ": base config '" + p.string() + "' not found");
          }
          spec_.base_config = fs::absolute(p).lexically_normal().string();
        } else if (key == "dir") {
          dir = str();
          if (dir.empty()) throw InputError(where + " must not be empty");
        } else if (key == "seed") {
          spec_.seed = static_cast<uint64_t>(integer(0));
        } else if (key == "metric") {
          spec_.metric = str();
          checkSweepMetric(where, spec_.metric);
        } else if (key == "mode") {
          spec_.mode = str();
          if (spec_.mode != "max" && spec_.mode != "min") {
            throw InputError(where + " expects \"max\" or \"min\", got \"" + spec_.mode + "\"");
          }
        } else if (key == "max_parallel") {
          spec_.max_parallel = integer(1);
        } else if (key == "sbatch") {
          spec_.sbatch = strings();
        } else if (key == "set") {
          spec_.sets = strings();
          for (const auto& s : spec_.sets) {
            if (s.rfind("run.out_dir=", 0) == 0) {
              throw InputError(where + ": run.out_dir is set by the sweep for every point");
            }
          }
        } else {
          throw InputError(where +
                           ": unknown key (expected base_config, dir, seed, metric, "
                           "mode, max_parallel, sbatch or set)");
        }
      }
    }
    if (!dir_override.empty()) dir = dir_override;
    if (dir.find_first_of("\t\n") != std::string::npos) {
      throw InputError(spec_.path + ": sweep.dir must not contain tabs or newlines");
    }
    spec_.dir = fs::absolute(dir).lexically_normal().string();
    while (spec_.dir.size() > 1 && spec_.dir.back() == '/') spec_.dir.pop_back();
  }

  // Checks `key = literal` against the schema; `where` names the spec line.
  void checkValue(const std::string& where, const std::string& key, const std::string& lit) {
    std::vector<std::string> sets = spec_.sets;
    sets.push_back(key + "=" + lit);
    checkSweepConfig(spec_, sets, where, sets.back());
  }

  void parseGrid(const toml::table& grid) {
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collectLeaves(grid, "", false, leaves);
    sortByLine(leaves);
    for (const auto& [key, node] : leaves) {
      const std::string where = at(*node) + ": [grid] " + key;
      const toml::array* values = node->as_array();
      if (!values) throw InputError(where + ": expected a list of values, e.g. [1, 2]");
      if (values->empty()) throw InputError(where + ": empty list of values");
      SweepParam p;
      p.key = key;
      p.line = lineOf(*node);
      for (const auto& v : *values) {
        p.values.push_back(literal(v, where));
        checkValue(where, key, p.values.back());
      }
      spec_.grid.push_back(std::move(p));
    }
  }

  void parseRandom(const toml::table& random) {
    std::vector<std::pair<std::string, const toml::node*>> leaves;
    collectLeaves(random, "", true, leaves);
    sortByLine(leaves);
    for (const auto& [key, node] : leaves) {
      const std::string where = at(*node) + ": [random] " + key;
      const toml::table* dist = node->as_table();
      if (!dist || dist->size() != 1) {
        throw InputError(where +
                         ": expected one of {uniform = [lo, hi]}, "
                         "{log_uniform = [lo, hi]} or {choice = [values]}");
      }
      SweepParam p;
      p.key = key;
      p.line = lineOf(*node);
      std::string dname;
      const toml::node* dnode_ptr = nullptr;
      for (auto&& [k, n] : *dist) {
        dname = std::string(k.str());
        dnode_ptr = &n;
      }
      const toml::node& dnode = *dnode_ptr;
      if (dname == "choice") {
        p.distribution = SweepDistribution::kChoice;
        const toml::array* values = dnode.as_array();
        if (!values) throw InputError(where + ": choice expects a list of values");
        if (values->empty()) throw InputError(where + ": empty choice list");
        for (const auto& v : *values) {
          p.values.push_back(literal(v, where));
          checkValue(where, key, p.values.back());
        }
      } else if (dname == "uniform" || dname == "log_uniform") {
        p.distribution =
            dname == "uniform" ? SweepDistribution::kUniform : SweepDistribution::kLogUniform;
        parseRange(where + " " + dname, dnode, p);
      } else {
        throw InputError(where + ": unknown distribution '" + dname +
                         "' (expected uniform, log_uniform or choice)");
      }
      spec_.random.push_back(std::move(p));
    }
    if (spec_.random.empty()) {
      if (random.contains("samples")) {
        throw InputError(at(*random.get("samples")) + ": [random] has samples but no keys");
      }
      return;
    }
    const toml::node* samples = random.get("samples");
    if (!samples) {
      throw InputError(spec_.path + ": [random] needs samples = N (the number of draws)");
    }
    auto n = samples->value_exact<int64_t>();
    if (!n || *n < 1) throw InputError(at(*samples) + ": [random] samples expects an integer >= 1");
    spec_.samples = *n;
  }

  void parseRange(const std::string& where, const toml::node& node, SweepParam& p) {
    const toml::array* range = node.as_array();
    auto number = [](const toml::node& n) -> std::optional<double> {
      if (n.is_floating_point()) return *n.value<double>();
      if (n.is_integer()) return static_cast<double>(*n.value<int64_t>());
      return std::nullopt;
    };
    if (!range || range->size() != 2 || !number(*range->get(0)) || !number(*range->get(1))) {
      throw InputError(where + ": expected a numeric range [lo, hi]");
    }
    p.lo = *number(*range->get(0));
    p.hi = *number(*range->get(1));
    if (!std::isfinite(p.lo) || !std::isfinite(p.hi)) {
      throw InputError(where + ": range bounds must be finite");
    }
    if (p.lo > p.hi) {
      throw InputError(where + ": lo > hi in [" + sweepFormatDouble(p.lo) + ", " +
                       sweepFormatDouble(p.hi) + "]");
    }
    if (p.distribution == SweepDistribution::kLogUniform && p.lo <= 0) {
      throw InputError(where + ": needs 0 < lo, got " + sweepFormatDouble(p.lo));
    }
    const KeySpec* ks = schemaKey(keys_, p.key);
    if (!ks) {
      checkValue(where, p.key, sweepFormatDouble(p.lo));  // throws the unknown-key message
      throw InputError(where + ": unknown key");
    }
    if (std::holds_alternative<int64_t*>(ks->field) ||
        std::holds_alternative<uint64_t*>(ks->field)) {
      p.integer = true;
    } else if (!std::holds_alternative<double*>(ks->field)) {
      throw InputError(where + ": key '" + p.key + "' holds a " + typeName(ks->field) +
                       "; ranges need an integer or float key (use choice)");
    }
    for (double v : {p.lo, p.hi}) {
      checkValue(where, p.key, p.integer ? std::to_string(std::llround(v)) : sweepFormatDouble(v));
    }
  }

  SweepSpec& spec_;
  const toml::table& root_;
  std::unique_ptr<Config> config_;  // keys_ point into it
  std::vector<KeySpec> keys_;
};

}  // namespace

std::string sweepFormatDouble(double v, int max_digits) {
  char buf[64];
  for (int digits = 1; digits <= max_digits; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (digits == max_digits || std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void checkSweepConfig(const SweepSpec& spec, const std::vector<std::string>& sets,
                      const std::string& where, const std::string& last_set) {
  try {
    loadConfig({spec.base_config, sets});
  } catch (const InputError& e) {
    std::string reason = e.what();
    const std::string prefix = "--set " + last_set + ": ";
    if (!last_set.empty() && reason.rfind(prefix, 0) == 0) reason = reason.substr(prefix.size());
    throw InputError(where + ": " + reason);
  }
}

SweepSpec loadSweepSpec(const std::string& path, const std::string& dir_override) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": sweep spec not found");
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw InputError(path + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) +
                     ": invalid TOML: " + std::string(e.description()));
  }
  SweepSpec spec;
  spec.path = path;
  spec.name = fs::path(path).stem().string();
  SpecParser(spec, root).parse(dir_override);
  const int64_t points = sweepPointCount(spec);
  if (points > kMaxSweepPoints) {
    std::string shape;
    for (const auto& p : spec.grid) {
      shape += (shape.empty() ? "" : " x ") + std::to_string(p.values.size());
    }
    if (!spec.random.empty()) {
      shape += (shape.empty() ? "" : " x ") + std::to_string(spec.samples) + " draws";
    }
    throw InputError(path + ": the sweep has more than " + std::to_string(kMaxSweepPoints) +
                     " points (" + shape + "); split it into several sweeps");
  }
  return spec;
}

}  // namespace agreid::launch
