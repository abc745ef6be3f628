#!/usr/bin/python3
"""Independent reference for agreid's CLIP tokenizer (tests/trainer/model_tokenizer_test.cc).

Follows OpenAI's simple_tokenizer.py (bytes_to_unicode, the BPE merge loop, the vocabulary layout)
but without the third-party `regex` and `ftfy` modules: the split pattern
    <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+
is applied by a hand-written scanner over unicodedata categories, white space is str.isspace().

Usage: clip_tokenizer_ref.py VOCAB.txt.gz < texts.json > ids.json
  texts.json: a JSON list of strings; ids.json: a JSON list of id lists (with SOT and EOT, no
  padding).
"""
import gzip
import json
import sys
import unicodedata


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def is_number(ch):
    return unicodedata.category(ch).startswith("N")


def split(text):
    specials = ["<|startoftext|>", "<|endoftext|>"]
    contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
    out, i = [], 0
    while i < len(text):
        hit = next((s for s in specials + contractions if text.startswith(s, i)), None)
        if hit is not None:
            out.append(hit)
            i += len(hit)
            continue
        ch = text[i]
        if is_letter(ch):
            j = i
            while j < len(text) and is_letter(text[j]):
                j += 1
        elif is_number(ch):
            j = i + 1
        elif not ch.isspace():
            j = i
            while j < len(text) and not (text[j].isspace() or is_letter(text[j]) or
                                         is_number(text[j])):
                j += 1
        else:
            i += 1
            continue
        out.append(text[i:j])
        i = j
    return out


class Tokenizer:
    def __init__(self, path):
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(path).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        for m in merges:
            vocab.append("".join(m))
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = set(zip(word, word[1:]))
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = set(zip(word, word[1:]))
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        text = " ".join(text.split()).lower()
        ids = []
        for token in split(text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids


def main():
    tok = Tokenizer(sys.argv[1])
    texts = json.load(sys.stdin)
    json.dump([[49406] + tok.encode(t) + [49407] for t in texts], sys.stdout)


if __name__ == "__main__":
    main()
