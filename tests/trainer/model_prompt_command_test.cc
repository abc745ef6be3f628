// `agreid prompt` (tokenizer CLI) and `agreid inspect` on a CLIP checkpoint, through the binary.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "tests/support/test_support.h"
#include "trainer/model/clip_checkpoint.h"
#include "trainer/model/clip_model.h"
#include "trainer/model/tokenizer.h"

namespace agreid::trainer {
namespace {

using agreid::testing::expectPythonReadsJson;
using agreid::testing::lineCount;
using agreid::testing::runAgreid;
using agreid::testing::TempDir;
using agreid::testing::writeFile;

#define REQUIRE_VOCAB()                                       \
  const std::string vocab = agreid::testing::clipVocabPath(); \
  if (vocab.empty()) GTEST_SKIP() << "CLIP vocabulary not found under ../shared/clip; skipping";

TEST(PromptCommand, PrintsIdsTokensAndPlaceholders) {
  REQUIRE_VOCAB();
  const auto r = runAgreid({"prompt", "--vocab", vocab, "A photo of a X X X X person."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const int64_t x = ClipTokenizer(vocab).placeholderId();
  const std::string xs = std::to_string(x);
  EXPECT_NE(r.out.find("length: 12 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ids: 49406 320 1125 539 320 " + xs + " " + xs + " " + xs + " " + xs +
                       " 2533 269 49407\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("tokens: <|startoftext|> a</w> photo</w> of</w> a</w> x</w>"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("placeholders: 5 6 7 8\n"), std::string::npos) << r.out;
}

TEST(PromptCommand, JsonAndConfigVocabulary) {
  REQUIRE_VOCAB();
  const auto r =
      runAgreid({"prompt", "--set", "model.vocab=" + vocab, "--json", "a photo of a person."});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"ids\":[49406,320,1125,539,320,2533,269,49407],\"tokens\":"
            "[\"<|startoftext|>\",\"a</w>\",\"photo</w>\",\"of</w>\",\"a</w>\","
            "\"person</w>\",\".</w>\",\"<|endoftext|>\"],\"placeholders\":[],\"length\":8}\n");
  TempDir dir;
  writeFile(dir.file("prompt.json"), r.out);
  EXPECT_EQ(expectPythonReadsJson({dir.file("prompt.json")}), 1);
}

TEST(PromptCommand, TooLongPromptFailsUnlessTruncated) {
  REQUIRE_VOCAB();
  std::string text;
  for (int i = 0; i < 90; ++i) text += "word ";
  auto r = runAgreid({"prompt", "--vocab", vocab, text});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("92 tokens with SOT/EOT, longer than the context length 77"),
            std::string::npos)
      << r.err;
  r = runAgreid({"prompt", "--vocab", vocab, "--truncate", "--json", text});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"length\":77}"), std::string::npos) << r.out;
}

TEST(PromptCommand, ContextOutsideItsRangeIsOneLineInputError) {
  REQUIRE_VOCAB();
  for (const std::string bad : {"999999999999", "1", "77x", "", "-5", "0x10"}) {
    const auto r = runAgreid({"prompt", "--vocab", vocab, "--context", bad, "a person"});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_EQ(lineCount(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--context expects an integer in 2..4096, got '" + bad + "'"),
              std::string::npos)
        << r.err;
  }
}

TEST(PromptCommand, VocabularyErrors) {
  TempDir dir;
  auto r = runAgreid({"prompt", "a person"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("pass --vocab FILE or set model.vocab"), std::string::npos) << r.err;
  r = runAgreid({"prompt", "--vocab", dir.file("none.txt.gz"), "a person"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lineCount(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(dir.file("none.txt.gz") + "' does not exist"), std::string::npos) << r.err;
  agreid::testing::writeFile(dir.file("bad.txt.gz"), "hello");
  r = runAgreid({"prompt", "--vocab", dir.file("bad.txt.gz"), "a person"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a gzip file"), std::string::npos) << r.err;
  r = runAgreid({"prompt", "--vocab", dir.file("bad.txt.gz")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected one TEXT argument"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(InspectCommand, DescribesClipCheckpoint) {
  TempDir dir;
  ClipArch a;
  a.embed_dim = 16;
  a.vision_width = 32;
  a.vision_layers = 1;
  a.vision_heads = 2;
  a.patch_size = 8;
  a.grid_h = 2;
  a.grid_w = 1;
  a.vocab_size = 100;
  a.context_length = 16;
  a.text_width = 32;
  a.text_layers = 1;
  a.text_heads = 4;
  ClipModel model(a);
  saveClip(model, dir.file("clip.pt"));
  const auto r = runAgreid({"inspect", dir.file("clip.pt")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(stored as Float)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("grid 2x1 (16x8 input)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("text width 32, 1 layers, 4 heads, context 16, vocabulary 100"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("parameters: vision " + std::to_string(countParameters(*model.visual))),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace agreid::trainer
