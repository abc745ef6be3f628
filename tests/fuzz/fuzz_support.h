// Shared by the libFuzzer targets (docs/errors.md, "Fuzzing"). Each target feeds its input to one
// reader of untrusted text or files. The contract under test: every input is either accepted or
// rejected with agreid::InputError; any other exception, a crash, a sanitizer report, a leak or a
// hang is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/error.h"

namespace agreid::fuzz {

// A folder private to this process (created on first use, removed at exit).
const std::string& scratchDir();

// Writes the input to scratchDir()/name and returns the path.
std::string writeInput(const uint8_t* data, size_t size, const std::string& name);

// Runs `body`; an InputError is the accepted way to refuse an input.
template <class Body>
int refuseOnlyWithInputError(Body&& body) {
  try {
    body();
  } catch (const agreid::InputError&) {
  }
  return 0;
}

}  // namespace agreid::fuzz
