// CLIP's BPE tokenizer on arbitrary bytes: encode, tokenize (truncating and not), decode.
// The vocabulary comes from AGREID_CLIP_VOCAB (the fuzz tests set it to ../shared/clip/...).
#include <cstdlib>
#include <memory>

#include "tests/fuzz/fuzz_support.h"
#include "trainer/model/tokenizer.h"

namespace {
std::unique_ptr<agreid::trainer::ClipTokenizer> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* vocab = std::getenv("AGREID_CLIP_VOCAB");
  if (vocab == nullptr || *vocab == '\0') {
    std::fprintf(stderr, "tokenizer_fuzz: set AGREID_CLIP_VOCAB to bpe_simple_vocab_16e6.txt.gz\n");
    std::abort();
  }
  tokenizer = std::make_unique<agreid::trainer::ClipTokenizer>(vocab);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return agreid::fuzz::refuseOnlyWithInputError([&] {
    const std::vector<int64_t> ids = tokenizer->encode(text);
    for (int64_t id : ids) {
      if (id < 0 || id >= agreid::trainer::ClipTokenizer::kVocabSize) __builtin_trap();
    }
    (void)tokenizer->decode(ids);
    agreid::trainer::TokenizeOptions cut;
    cut.truncate = true;
    const std::vector<int64_t> t = tokenizer->tokenize(text, cut);
    if (static_cast<int64_t>(t.size()) != cut.context_length) __builtin_trap();
    (void)tokenizer->tokenize(text);
  });
}
