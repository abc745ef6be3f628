// agreid prompt: shows how CLIP's tokenizer splits a prompt or template -- ids, tokens, length and
// the placeholder positions (tokens equal to x</w>) that prompt learners fill.
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "launch/commands.h"
#include "trainer/model/tokenizer.h"
#include "trainer/util/json.h"

namespace agreid::launch {
namespace {

template <typename T, typename F>
std::string join(const std::vector<T>& items, const std::string& sep, F&& format) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + format(items[i]);
  return out;
}

int runPrompt(const ParsedArgs& args, CommandContext&) {
  if (args.positionals.size() != 1) {
    throw InputError("agreid prompt: expected one TEXT argument (quote it), got " +
                     std::to_string(args.positionals.size()));
  }
  std::string vocab = args.get("vocab");
  if (vocab.empty()) vocab = configFromArgs(args).model.vocab;
  if (vocab.empty()) {
    throw InputError(
        "agreid prompt: no CLIP vocabulary; pass --vocab FILE or set model.vocab "
        "(bpe_simple_vocab_16e6.txt.gz)");
  }
  trainer::TokenizeOptions options;
  // A context longer than any CLIP model is a typo, and its padding would be allocated.
  options.context_length = args.getInt("prompt", "context", options.context_length, 2, 4096);
  options.truncate = args.has("truncate");
  const trainer::ClipTokenizer tokenizer(vocab);
  auto ids = tokenizer.tokenize(args.positionals[0], options);
  // Drop the padding after EOT.
  std::size_t length = 0;
  while (length < ids.size() && ids[length] != trainer::ClipTokenizer::kEot) ++length;
  ids.resize(length + 1);
  const auto placeholders =
      trainer::ClipTokenizer::placeholderPositions(ids, tokenizer.placeholderId());
  const auto number = [](int64_t v) { return std::to_string(v); };
  if (args.has("json")) {
    std::vector<std::string> tokens;
    for (int64_t id : ids) tokens.push_back(tokenizer.token(id));
    const trainer::OrderedJson out = {
        {"ids", ids}, {"tokens", tokens}, {"placeholders", placeholders}, {"length", ids.size()}};
    std::cout << trainer::jsonText(out) << "\n";
    return 0;
  }
  std::cout << "length: " << ids.size() << " tokens with SOT and EOT (context "
            << options.context_length << ")\n"
            << "ids: " << join(ids, " ", number) << "\n"
            << "tokens: " << join(ids, " ", [&](int64_t id) { return tokenizer.token(id); }) << "\n"
            << "placeholders: " << join(placeholders, " ", number) << "\n";
  return 0;
}

}  // namespace

CommandSpec promptCommand() {
  CommandSpec spec;
  spec.name = "prompt";
  spec.max_positionals = 1;
  spec.summary = "Tokenise a prompt or template with CLIP's BPE (ids, tokens, placeholders).";
  spec.usage = "agreid prompt [--vocab FILE] [--json] [--context N] [--truncate] \"TEXT\"";
  spec.details =
      "Prints the token ids (SOT ... EOT, padding dropped), the vocabulary strings, the length\n"
      "and the positions of placeholder tokens (x</w>, what a template's X becomes), which the\n"
      "prompt learners replace by learnable vectors. The vocabulary is --vocab, else model.vocab.\n"
      "A prompt longer than the context is an error unless --truncate is given.";
  spec.options = {
      {"vocab", "FILE", "CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)"},
      {"json", "", "print one JSON object {\"ids\", \"tokens\", \"placeholders\", \"length\"}"},
      {"context", "N", "context length (default 77)"},
      {"truncate", "", "cut a too long prompt to the context, keeping EOT last"},
  };
  for (auto& o : configOptions()) spec.options.push_back(o);
  spec.run = &runPrompt;
  return spec;
}

}  // namespace agreid::launch
