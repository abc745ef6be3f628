#include "trainer/model/unicode.h"

#include <algorithm>

#include "base/error.h"

namespace agreid::trainer::unicode {
namespace {

bool inRanges(const CodeRange* ranges, std::size_t n, char32_t cp) {
  const CodeRange* end = ranges + n;
  // First range whose last >= cp.
  const CodeRange* it =
      std::lower_bound(ranges, end, cp, [](const CodeRange& r, char32_t c) { return r.last < c; });
  return it != end && it->first <= cp;
}

[[noreturn]] void invalidUtf8(std::size_t offset) {
  throw InputError("text is not valid UTF-8 (bad byte at offset " + std::to_string(offset) + ")");
}

}  // namespace

std::u32string decodeUtf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    char32_t cp;
    int extra;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      extra = 1;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      extra = 2;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      extra = 3;
    } else {
      invalidUtf8(i);
    }
    for (int k = 1; k <= extra; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) invalidUtf8(i);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Reject over-long forms, surrogates and values past U+10FFFF.
    static const char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) invalidUtf8(i);
    out.push_back(cp);
    i += extra + 1;
  }
  return out;
}

void appendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encodeUtf8(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) appendUtf8(cp, out);
  return out;
}

bool isLetter(char32_t cp) { return inRanges(kLetters, kLettersSize, cp); }
bool isNumber(char32_t cp) { return inRanges(kNumbers, kNumbersSize, cp); }
bool isSpace(char32_t cp) { return inRanges(kWhiteSpace, kWhiteSpaceSize, cp); }

void appendLower(char32_t cp, std::u32string& out) {
  if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: the one multi-character form
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  const LowerRun* end = kLower + kLowerSize;
  const LowerRun* it =
      std::lower_bound(kLower, end, cp, [](const LowerRun& r, char32_t c) { return r.last < c; });
  if (it != end && it->first <= cp && (cp - it->first) % it->stride == 0) {
    out.push_back(static_cast<char32_t>(static_cast<int64_t>(cp) + it->delta));
  } else {
    out.push_back(cp);
  }
}

}  // namespace agreid::trainer::unicode
