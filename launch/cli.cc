#include "launch/cli.h"

#include <charconv>
#include <sstream>

#include "base/error.h"

namespace agreid::launch {

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
  auto it = options.find(name);
  if (it == options.end() || it->second.empty()) return fallback;
  return it->second.back();
}

int64_t ParsedArgs::getInt(const std::string& command, const std::string& name, int64_t fallback,
                           int64_t lo, int64_t hi) const {
  if (!has(name)) return fallback;
  const std::string value = get(name);
  int64_t parsed = 0;
  const char* end = value.data() + value.size();
  const auto [ptr, ec] = std::from_chars(value.data(), end, parsed);
  if (value.empty() || ec != std::errc() || ptr != end || parsed < lo || parsed > hi) {
    throw InputError("agreid " + command + ": --" + name + " expects an integer in " +
                     std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + value + "'");
  }
  return parsed;
}

const std::vector<std::string>& ParsedArgs::all(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = options.find(name);
  return it == options.end() ? kEmpty : it->second;
}

ParsedArgs parseArgs(const CommandSpec& spec, const std::vector<std::string>& args) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word.size() > 2 && word.rfind("--", 0) == 0) {
      std::string name = word.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const OptionSpec* opt = nullptr;
      for (const auto& o : spec.options)
        if (o.name == name) opt = &o;
      if (!opt) {
        throw InputError("agreid " + spec.name + ": unknown option '--" + name + "' (see agreid " +
                         spec.name + " --help)");
      }
      std::string value;
      if (!opt->metavar.empty()) {
        if (inline_value) {
          value = *inline_value;
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          throw InputError("agreid " + spec.name + ": option '--" + name + "' needs a value (" +
                           opt->metavar + ")");
        }
      } else if (inline_value) {
        throw InputError("agreid " + spec.name + ": option '--" + name + "' takes no value");
      }
      if (!opt->repeated && out.options.count(name)) {
        throw InputError("agreid " + spec.name + ": option '--" + name + "' given twice");
      }
      out.options[name].push_back(value);
    } else {
      out.positionals.push_back(word);
    }
  }
  return out;
}

std::string commandHelp(const CommandSpec& spec) {
  std::ostringstream os;
  os << "usage: " << spec.usage << "\n\n" << spec.summary << "\n";
  if (!spec.details.empty()) os << "\n" << spec.details << "\n";
  if (!spec.options.empty()) {
    os << "\noptions:\n";
    for (const auto& o : spec.options) {
      std::string left = "  --" + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
      if (left.size() < 28)
        left.resize(28, ' ');
      else
        left += "  ";
      os << left << o.help << (o.repeated ? " (repeatable)" : "") << "\n";
    }
  }
  os << "  --help                      show this help\n";
  return os.str();
}

std::vector<OptionSpec> configOptions() {
  return {
      {"config", "FILE", "TOML configuration file (defaults for every key not in it)"},
      {"set", "KEY=VALUE", "override one key, e.g. --set stage2.lr=1e-5", true},
  };
}

}  // namespace agreid::launch
