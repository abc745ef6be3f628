// The few Unicode facts the CLIP tokenizer needs, without ICU or a locale: UTF-8 decoding and
// encoding, the general categories Letter (L*) and Number (N*), the White_Space property and the
// lower-case mapping of Python's str.lower(). The tables are generated from Python's unicodedata
// by trainer/model/gen_unicode_tables.py (unicode_tables.cc).
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace agreid::trainer::unicode {

// Decodes UTF-8. Throws InputError naming the byte offset when `text` is not valid UTF-8.
std::u32string decodeUtf8(const std::string& text);
std::string encodeUtf8(const std::u32string& text);
void appendUtf8(char32_t cp, std::string& out);

bool isLetter(char32_t cp);  // general category L*
bool isNumber(char32_t cp);  // general category N*
bool isSpace(char32_t cp);   // White_Space property

// Appends the lower-case form of `cp` as Python's str.lower() gives it (one code point, except
// U+0130 which becomes "i" + U+0307).
void appendLower(char32_t cp, std::u32string& out);

// Generated tables (unicode_tables.cc), sorted by code point.
struct CodeRange {
  char32_t first;
  char32_t last;
};
// Code points first, first + stride, ..., up to last map to cp + delta.
struct LowerRun {
  char32_t first;
  char32_t last;
  int32_t delta;
  int32_t stride;
};
extern const CodeRange kLetters[];
extern const CodeRange kNumbers[];
extern const CodeRange kWhiteSpace[];
extern const LowerRun kLower[];
extern const std::size_t kLettersSize;
extern const std::size_t kNumbersSize;
extern const std::size_t kWhiteSpaceSize;
extern const std::size_t kLowerSize;

}  // namespace agreid::trainer::unicode
