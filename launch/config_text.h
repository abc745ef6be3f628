// Configuration values as text: TOML literals, the range of a key, and the visitor helper the
// loader (config.cc) and the printers (config_text.cc: typeName, tomlValue, configToToml, the
// Markdown reference) share. Internal to launch/.
#pragma once

#include <string>

#include "launch/config.h"

namespace agreid::launch {

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// A string as a TOML literal ('text', or "text" with escapes when needed).
std::string quoteToml(const std::string& s);
// A TOML float with 10 significant digits ("0.0001", "3.0").
std::string formatDouble(double v);
// "lo, hi" of a numeric key: integers for integer keys ("0, 1024"), floats otherwise.
std::string rangeText(const KeySpec& spec);

}  // namespace agreid::launch
