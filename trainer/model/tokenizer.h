// ClipTokenizer: OpenAI CLIP's byte-level BPE (simple_tokenizer.py), reading the standard
// bpe_simple_vocab_16e6.txt.gz vocabulary.
//
// Text is cleaned as OpenAI does minus ftfy and HTML unescaping (white space collapsed to single
// spaces, ends stripped), lower-cased with Python's str.lower() mapping, split with CLIP's pattern
// (special tokens, English contractions, letter runs, single digits, other-symbol runs), mapped
// byte-wise to printable code points and merged by rank with "</w>" marking a word end. Ids:
// 256 byte symbols, 256 byte symbols + "</w>", 48894 merges, then <|startoftext|> = 49406 and
// <|endoftext|> = 49407.
//
// Thread-safety: every const method may be called concurrently (the BPE cache is guarded).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace agreid::trainer {

struct TokenizeOptions {
  int64_t context_length = 77;
  // Too long: cut to context_length keeping EOT last. Otherwise throw InputError.
  bool truncate = false;
};

class ClipTokenizer {
 public:
  static constexpr int64_t kSot = 49406;
  static constexpr int64_t kEot = 49407;
  static constexpr int64_t kVocabSize = 49408;
  static constexpr const char* kPlaceholder = "x</w>";  // the token of a template's "X"

  // Reads the gzip vocabulary. Throws InputError naming `vocab_path` when it is missing, not gzip
  // or malformed (fewer merges than CLIP uses, a merge line without exactly two symbols).
  explicit ClipTokenizer(const std::string& vocab_path);

  // BPE ids of `text`, without SOT/EOT. Throws InputError when `text` is not valid UTF-8.
  std::vector<int64_t> encode(const std::string& text) const;

  // SOT + encode(text) + EOT, zero-padded to options.context_length. Throws InputError quoting the
  // text when it is longer than the context and truncation was not requested.
  std::vector<int64_t> tokenize(const std::string& text, const TokenizeOptions& options = {}) const;

  // The vocabulary string of an id, e.g. "photo</w>" (byte-mapped, as in OpenAI's encoder).
  const std::string& token(int64_t id) const;
  // Id of a vocabulary string; -1 when absent.
  int64_t id(const std::string& token) const;
  // Ids back to text: word ends become spaces, SOT is dropped, decoding stops at EOT.
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t placeholderId() const { return placeholder_id_; }
  // Positions of placeholder tokens in `ids` (e.g. the output of tokenize()).
  static std::vector<int64_t> placeholderPositions(const std::vector<int64_t>& ids,
                                                   int64_t placeholder_id);

 private:
  // BPE of one pre-token (already byte-mapped), as the space-separated symbols' ids.
  void bpe(const std::string& mapped, std::vector<int64_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> encoder_;
  std::unordered_map<std::string, int64_t> ranks_;  // "first second" -> merge rank
  std::vector<std::string> byte_symbol_;            // byte -> UTF-8 of its printable code point
  std::unordered_map<std::string, int> symbol_byte_;
  int64_t placeholder_id_ = -1;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace agreid::trainer
