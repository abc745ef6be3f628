#include "trainer/model/tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "base/check.h"
#include "base/error.h"
#include "trainer/model/unicode.h"

namespace agreid::trainer {
namespace {

// OpenAI reads lines [1, 49152 - 256 - 2] of the file: 48894 merges after the version line.
constexpr int64_t kNumMerges = 49152 - 256 - 2;
constexpr const char* kStartOfText = "<|startoftext|>";
constexpr const char* kEndOfText = "<|endoftext|>";

std::string readGzip(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) {
    throw InputError("CLIP vocabulary '" + path + "' does not exist (expected " +
                     "bpe_simple_vocab_16e6.txt.gz; set model.vocab or --vocab)");
  }
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError("CLIP vocabulary '" + path + "' cannot be opened");
  if (gzdirect(f)) {
    gzclose(f);
    throw InputError("CLIP vocabulary '" + path + "' is not a gzip file");
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw InputError("CLIP vocabulary '" + path + "' is corrupt (" + msg + ")");
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  return out;
}

// OpenAI's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the rest to 256+n.
std::vector<char32_t> byteCodePoints() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<char32_t> cp(256, 0);
  std::vector<bool> seen(256, false);
  for (int b : bs) {
    cp[b] = static_cast<char32_t>(b);
    seen[b] = true;
  }
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (!seen[b]) cp[b] = static_cast<char32_t>(256 + n++);
  return cp;
}

// The byte order of OpenAI's vocabulary: the order of bytes_to_unicode()'s keys.
std::vector<int> byteOrder() {
  std::vector<int> order;
  std::vector<bool> seen(256, false);
  for (int b = '!'; b <= '~'; ++b) order.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) order.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) order.push_back(b);
  for (int b : order) seen[b] = true;
  for (int b = 0; b < 256; ++b)
    if (!seen[b]) order.push_back(b);
  return order;
}

bool startsWith(const std::u32string& s, std::size_t pos, const char* ascii) {
  for (std::size_t k = 0; ascii[k]; ++k) {
    if (pos + k >= s.size() || s[pos + k] != static_cast<char32_t>(ascii[k])) return false;
  }
  return true;
}

// Cleaned, lower-cased text split with CLIP's pattern
// <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::u32string> preTokenize(const std::string& text) {
  const std::u32string raw = unicode::decodeUtf8(text);
  // whitespace_clean(basic_clean(text)).lower(): collapse white space, strip, lower-case.
  std::u32string s;
  s.reserve(raw.size());
  bool pending_space = false;
  for (char32_t c : raw) {
    if (unicode::isSpace(c)) {
      pending_space = !s.empty();
      continue;
    }
    if (pending_space) s.push_back(U' ');
    pending_space = false;
    unicode::appendLower(c, s);
  }
  std::vector<std::u32string> out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const char32_t c = s[i];
    if (startsWith(s, i, kStartOfText)) {
      out.emplace_back(s.substr(i, 15));
      i += 15;
      continue;
    }
    if (startsWith(s, i, kEndOfText)) {
      out.emplace_back(s.substr(i, 13));
      i += 13;
      continue;
    }
    if (c == U'\'') {
      static const char* kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
      bool matched = false;
      for (const char* k : kContractions) {
        if (startsWith(s, i, k)) {
          const std::size_t len = std::char_traits<char>::length(k);
          out.emplace_back(s.substr(i, len));
          i += len;
          matched = true;
          break;
        }
      }
      if (matched) continue;
    }
    if (unicode::isLetter(c)) {
      std::size_t j = i + 1;
      while (j < n && unicode::isLetter(s[j])) ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    } else if (unicode::isNumber(c)) {
      out.emplace_back(s.substr(i, 1));
      ++i;
    } else if (!unicode::isSpace(c)) {
      std::size_t j = i + 1;
      while (j < n && !unicode::isSpace(s[j]) && !unicode::isLetter(s[j]) &&
             !unicode::isNumber(s[j]))
        ++j;
      out.emplace_back(s.substr(i, j - i));
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

// Splits a UTF-8 string into its code points' UTF-8 pieces.
std::vector<std::string> utf8Symbols(const std::string& s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    out.push_back(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace

ClipTokenizer::ClipTokenizer(const std::string& vocab_path) {
  const std::string text = readGzip(vocab_path);
  const auto cps = byteCodePoints();
  byte_symbol_.resize(256);
  for (int b = 0; b < 256; ++b) {
    unicode::appendUtf8(cps[b], byte_symbol_[b]);
    symbol_byte_[byte_symbol_[b]] = b;
  }
  for (int b : byteOrder()) vocab_.push_back(byte_symbol_[b]);
  for (int b : byteOrder()) vocab_.push_back(byte_symbol_[b] + "</w>");

  // Merge lines 1..kNumMerges (line 0 is the "#version" header).
  std::size_t pos = text.find('\n');
  if (pos == std::string::npos) {
    throw InputError("CLIP vocabulary '" + vocab_path + "' is malformed (no merge lines)");
  }
  ++pos;
  for (int64_t rank = 0; rank < kNumMerges; ++rank) {
    if (pos >= text.size()) {
      throw InputError("CLIP vocabulary '" + vocab_path + "' is malformed (" +
                       std::to_string(rank) + " merges, expected at least " +
                       std::to_string(kNumMerges) + ")");
    }
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    const std::size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos) {
      throw InputError("CLIP vocabulary '" + vocab_path + "' is malformed (line " +
                       std::to_string(rank + 2) + " is not a merge 'a b': '" + line + "')");
    }
    ranks_.emplace(line, rank);
    vocab_.push_back(line.substr(0, space) + line.substr(space + 1));
  }
  vocab_.push_back(kStartOfText);
  vocab_.push_back(kEndOfText);
  AGREID_CHECK(static_cast<int64_t>(vocab_.size()) == kVocabSize, vocab_.size());
  for (std::size_t k = 0; k < vocab_.size(); ++k) encoder_.emplace(vocab_[k], k);
  placeholder_id_ = id(kPlaceholder);
  AGREID_CHECK(placeholder_id_ >= 0);
}

void ClipTokenizer::bpe(const std::string& mapped, std::vector<int64_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    const auto it = cache_.find(mapped);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int64_t> ids;
  if (mapped == kStartOfText || mapped == kEndOfText) {
    ids.push_back(encoder_.at(mapped));
  } else {
    std::vector<std::string> word = utf8Symbols(mapped);
    word.back() += "</w>";
    while (word.size() > 1) {
      int64_t best_rank = INT64_MAX;
      std::size_t best = 0;
      for (std::size_t k = 0; k + 1 < word.size(); ++k) {
        const auto it = ranks_.find(word[k] + " " + word[k + 1]);
        if (it != ranks_.end() && it->second < best_rank) {
          best_rank = it->second;
          best = k;
        }
      }
      if (best_rank == INT64_MAX) break;
      const std::string first = word[best];
      const std::string second = word[best + 1];
      // Merge every non-overlapping occurrence, left to right, as OpenAI's loop does.
      std::vector<std::string> merged;
      merged.reserve(word.size());
      for (std::size_t k = 0; k < word.size();) {
        if (k + 1 < word.size() && word[k] == first && word[k + 1] == second) {
          merged.push_back(first + second);
          k += 2;
        } else {
          merged.push_back(word[k]);
          ++k;
        }
      }
      word.swap(merged);
    }
    for (const auto& sym : word) {
      const auto it = encoder_.find(sym);
      AGREID_CHECK(it != encoder_.end(), "BPE symbol missing from the vocabulary: ", sym);
      ids.push_back(it->second);
    }
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() < 1000000) cache_.emplace(mapped, std::move(ids));
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> out;
  for (const auto& piece : preTokenize(text)) {
    const std::string utf8 = unicode::encodeUtf8(piece);
    std::string mapped;
    for (unsigned char b : utf8) mapped += byte_symbol_[b];
    bpe(mapped, out);
  }
  return out;
}

std::vector<int64_t> ClipTokenizer::tokenize(const std::string& text,
                                             const TokenizeOptions& options) const {
  AGREID_CHECK(options.context_length >= 2, options.context_length);
  std::vector<int64_t> ids{kSot};
  const auto body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(kEot);
  const auto context = static_cast<std::size_t>(options.context_length);
  if (ids.size() > context) {
    if (!options.truncate) {
      throw InputError("text '" + text + "' has " + std::to_string(ids.size()) +
                       " tokens with SOT/EOT, longer than the context length " +
                       std::to_string(context));
    }
    ids.resize(context);
    ids.back() = kEot;
  }
  ids.resize(context, 0);
  return ids;
}

const std::string& ClipTokenizer::token(int64_t id) const {
  if (id < 0 || id >= static_cast<int64_t>(vocab_.size())) {
    throw InputError("token id " + std::to_string(id) + " is outside the CLIP vocabulary [0, " +
                     std::to_string(vocab_.size()) + ")");
  }
  return vocab_[static_cast<std::size_t>(id)];
}

int64_t ClipTokenizer::id(const std::string& token) const {
  const auto it = encoder_.find(token);
  return it == encoder_.end() ? -1 : it->second;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string mapped;
  for (int64_t i : ids) {
    if (i == kEot) break;  // padding follows
    if (i == kSot) continue;
    mapped += token(i);
  }
  std::string out;
  for (const auto& sym : utf8Symbols(mapped)) {
    const auto it = symbol_byte_.find(sym);
    if (it != symbol_byte_.end())
      out.push_back(static_cast<char>(it->second));
    else
      out += sym;
  }
  // "</w>" is made of byte symbols '<', '/', 'w', '>' that map to themselves.
  std::string text;
  for (std::size_t k = 0; k < out.size();) {
    if (out.compare(k, 4, "</w>") == 0) {
      text.push_back(' ');
      k += 4;
    } else {
      text.push_back(out[k++]);
    }
  }
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::vector<int64_t> ClipTokenizer::placeholderPositions(const std::vector<int64_t>& ids,
                                                         int64_t placeholder_id) {
  std::vector<int64_t> out;
  for (std::size_t k = 0; k < ids.size(); ++k)
    if (ids[k] == placeholder_id) out.push_back(static_cast<int64_t>(k));
  return out;
}

}  // namespace agreid::trainer
