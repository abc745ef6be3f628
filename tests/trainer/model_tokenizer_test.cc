// ClipTokenizer: exact ids against CLIP's known encoding and an independent Python
// re-implementation (tests/trainer/reference/clip_tokenizer_ref.py), placeholders, context length,
// bad vocabularies.
#include <gtest/gtest.h>
#include <zlib.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "tests/support/test_support.h"
#include "trainer/model/tokenizer.h"
#include "trainer/model/unicode.h"

namespace agreid::trainer {
namespace {

using agreid::testing::TempDir;

#define REQUIRE_VOCAB()                                       \
  const std::string vocab = agreid::testing::clipVocabPath(); \
  if (vocab.empty())                                          \
    GTEST_SKIP() << "CLIP vocabulary ../shared/clip/"         \
                    "bpe_simple_vocab_16e6.txt.gz not found; skipping";

void writeGzip(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, content.data(), static_cast<unsigned>(content.size())),
            static_cast<int>(content.size()));
  gzclose(f);
}

std::vector<int64_t> withoutPadding(std::vector<int64_t> ids) {
  while (!ids.empty() && ids.back() == 0) ids.pop_back();
  return ids;
}

const std::vector<std::string> kTexts = {
    "a photo of a person.",
    "A photo of a X X X X person.",
    "Hello, World!!  What's up?   ",
    "  it's   don't they're we've I'm you'll he'd  ",
    "Numbers: 2024 and 3.14159, 1st 22nd",
    "café naïve Straße ÆSIR Ångström",
    "emoji \xF0\x9F\x98\x80 and symbols #@$%^&*() -- ...",
    "tab\tnew\nline\r\nnbsp\xC2\xA0space",
    "İstanbul ΑΘΗΝΑ Москва 東京 日本語のテキスト",
    "<|startoftext|>special<|endoftext|>",
    "x X x</w> a-b_c/d'e",
    "Ⅻ ½ ٣ numbers in other scripts",
    "",
};

TEST(ClipTokenizer, KnownEncodingOfAPhotoOfAPerson) {
  REQUIRE_VOCAB();
  ClipTokenizer tok(vocab);
  const auto ids = tok.tokenize("a photo of a person.");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(withoutPadding(ids),
            (std::vector<int64_t>{49406, 320, 1125, 539, 320, 2533, 269, 49407}));
  for (std::size_t i = 8; i < ids.size(); ++i) EXPECT_EQ(ids[i], 0);
  EXPECT_EQ(tok.token(1125), "photo</w>");
  EXPECT_EQ(tok.decode(ids), "a photo of a person .");
}

TEST(ClipTokenizer, MatchesIndependentPythonReference) {
  REQUIRE_VOCAB();
  if (std::string(AGREID_PYTHON).empty()) GTEST_SKIP() << "no /usr/bin/python3 for the reference";
  TempDir dir;
  std::ostringstream json;
  json << "[";
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    json << (i ? ", " : "") << "\"";
    for (char c : kTexts[i]) {
      if (c == '"' || c == '\\')
        json << '\\' << c;
      else if (c == '\n')
        json << "\\n";
      else if (c == '\r')
        json << "\\r";
      else if (c == '\t')
        json << "\\t";
      else
        json << c;
    }
    json << "\"";
  }
  json << "]";
  agreid::testing::writeFile(dir.file("texts.json"), json.str());
  const auto r = agreid::testing::runShell(
      agreid::testing::shellQuote(AGREID_PYTHON) + " " +
      agreid::testing::shellQuote(std::string(AGREID_SOURCE_DIR) +
                                  "/tests/trainer/reference/clip_tokenizer_ref.py") +
      " " + agreid::testing::shellQuote(vocab) + " < " + dir.file("texts.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Parse [[1, 2], [3]].
  std::vector<std::vector<int64_t>> expected;
  std::vector<int64_t> cur;
  int depth = 0;
  std::string num;
  for (char c : r.out) {
    if (c >= '0' && c <= '9') {
      num += c;
      continue;
    }
    if (!num.empty()) {
      cur.push_back(std::stoll(num));
      num.clear();
    }
    if (c == '[' && ++depth == 2) cur.clear();
    if (c == ']' && depth-- == 2) expected.push_back(cur);
  }
  ASSERT_EQ(expected.size(), kTexts.size());
  ClipTokenizer tok(vocab);
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    EXPECT_EQ(withoutPadding(tok.tokenize(kTexts[i])), expected[i]) << "text: " << kTexts[i];
  }
}

TEST(ClipTokenizer, NonAsciiLettersAndApostrophes) {
  REQUIRE_VOCAB();
  ClipTokenizer tok(vocab);
  // "straße" is one letter run; "don't" splits into "don" and "'t".
  const auto s = tok.encode("STRASSE Straße");
  EXPECT_EQ(tok.decode(tok.encode("Straße")), "straße");
  EXPECT_EQ(tok.decode(tok.encode("don't")), "don 't");
  EXPECT_EQ(tok.decode(tok.encode("Café  NAÏVE")), "café naïve");
  EXPECT_FALSE(s.empty());
}

TEST(ClipTokenizer, PlaceholderPositions) {
  REQUIRE_VOCAB();
  ClipTokenizer tok(vocab);
  const auto ids = tok.tokenize("A photo of a X X X X person.");
  EXPECT_EQ(tok.token(tok.placeholderId()), "x</w>");
  EXPECT_EQ(ClipTokenizer::placeholderPositions(ids, tok.placeholderId()),
            (std::vector<int64_t>{5, 6, 7, 8}));
  const auto attr = tok.tokenize(
      "A photo of a X X person with X X hair, wearing X X X upper clothes, X X X lower clothes "
      "and X X shoes, carrying X X, in X X posture.");
  EXPECT_EQ(ClipTokenizer::placeholderPositions(attr, tok.placeholderId()).size(), 16u);
}

TEST(ClipTokenizer, ContextLengthAndTruncation) {
  REQUIRE_VOCAB();
  ClipTokenizer tok(vocab);
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "word ";
  try {
    tok.tokenize(long_text);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("102 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("context length 77"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  TokenizeOptions opts;
  opts.truncate = true;
  const auto ids = tok.tokenize(long_text, opts);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), ClipTokenizer::kSot);
  EXPECT_EQ(ids.back(), ClipTokenizer::kEot);
  opts.context_length = 8;
  opts.truncate = false;
  EXPECT_EQ(tok.tokenize("a photo of a person.", opts).size(), 8u);
  EXPECT_THROW(tok.tokenize("a photo of a tall person.", opts), InputError);
}

TEST(ClipTokenizer, InvalidUtf8IsAnInputError) {
  REQUIRE_VOCAB();
  ClipTokenizer tok(vocab);
  EXPECT_THROW(tok.encode("bad \xC3 byte"), InputError);
  EXPECT_THROW(tok.encode("overlong \xC0\xAF"), InputError);
}

TEST(ClipTokenizer, MissingOrMalformedVocabulary) {
  TempDir dir;
  const auto expectError = [](const std::string& path, const std::string& needle) {
    try {
      ClipTokenizer tok(path);
      ADD_FAILURE() << "expected InputError for " << path;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  };
  expectError(dir.file("absent.txt.gz"), "does not exist");
  agreid::testing::writeFile(dir.file("plain.txt"), "#version: 0.2\na b\n");
  expectError(dir.file("plain.txt"), "not a gzip file");
  writeGzip(dir.file("short.txt.gz"), "#version: 0.2\ni n\nt h\n");
  expectError(dir.file("short.txt.gz"), "2 merges, expected at least 48894");
  writeGzip(dir.file("bad.txt.gz"), "#version: 0.2\ni n\nthree part line\n");
  expectError(dir.file("bad.txt.gz"), "line 3 is not a merge");
}

TEST(Unicode, ClassesAndLowerCase) {
  using namespace unicode;
  EXPECT_TRUE(isLetter(U'a'));
  EXPECT_TRUE(isLetter(0xDF));    // ß
  EXPECT_TRUE(isLetter(0x6771));  // 東
  EXPECT_FALSE(isLetter(U'1'));
  EXPECT_TRUE(isNumber(U'7'));
  EXPECT_TRUE(isNumber(0x216B));  // Ⅻ (Nl)
  EXPECT_TRUE(isNumber(0xBD));    // ½ (No)
  EXPECT_FALSE(isNumber(U'x'));
  EXPECT_TRUE(isSpace(0xA0));
  EXPECT_TRUE(isSpace(0x3000));
  EXPECT_FALSE(isSpace(U'_'));
  std::u32string out;
  for (char32_t c : std::u32string(U"ÀÉΣЖ\u0130Z")) appendLower(c, out);
  EXPECT_EQ(out, std::u32string(U"àéσжi\u0307z"));
  EXPECT_EQ(encodeUtf8(decodeUtf8("Straße 東京")), "Straße 東京");
}

}  // namespace
}  // namespace agreid::trainer
