#!/usr/bin/env python3
"""Independent reference for `agreid pretrain` (docs/results.md, "Looking for a CLIP that knows
attributes"): a CLIP of the same tower sizes written in plain PyTorch, trained on the same
captioned set, and scored the same way (zero-shot accuracy per attribute on the images of 1,000
held-out people, one readout prompt per value, next to the majority value of the training people).

It shares no code with agreid: word-level tokens instead of CLIP's BPE, PyTorch's own transformer
layers, its own sampler and held-out draw. Where it reaches about what agreid reaches with the same
budget, agreid's pretraining is not what holds the CLIP back; where it reaches far more, agreid has
a defect to find.

Image tower: ViT, patch 8, width 128, 4 layers, 4 heads, class token. Text tower: width 128, 3
layers, 4 heads, causal mask, end-of-text token. Embedding 128; symmetric InfoNCE with a learned
temperature (initial 0.07, logit scale clamped at 100); AdamW (weight decay 0.1), linear warm-up
over 100 steps then cosine; random horizontal flip per batch.

`--fuse-hair-colour` writes "black hair" as the one word "blackhair" (captions and prompts alike),
so that a hair colour shares no word with a garment colour: a test of whether the shared colour
words are what keeps the image tower from learning hair colour.

Usage:
  scripts/reference_clip.py PRETRAIN.h5 [--steps 1000] [--lr 5e-4] [--batch-size 128]
                            [--fuse-hair-colour]
"""
import argparse
import math
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dataset_file import decode_images, open_dataset

CONTEXT = 77
WIDTH = 128


def block_stack(layers):
    layer = nn.TransformerEncoderLayer(WIDTH, 4, 4 * WIDTH, 0.0, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers)


class ImageTower(nn.Module):
    def __init__(self, height, width, patch=8):
        super().__init__()
        self.embed = nn.Conv2d(3, WIDTH, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(1, 1, WIDTH) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (height // patch) * (width // patch) + 1, WIDTH) * 0.02)
        self.pre = nn.LayerNorm(WIDTH)
        self.blocks = block_stack(4)
        self.post = nn.LayerNorm(WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH, bias=False)

    def forward(self, x):
        z = self.embed(x).flatten(2).transpose(1, 2)
        z = torch.cat([self.cls.expand(len(z), -1, -1), z], 1) + self.pos
        return self.proj(self.post(self.blocks(self.pre(z))[:, 0]))


class TextTower(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, WIDTH)
        self.pos = nn.Parameter(torch.randn(1, CONTEXT, WIDTH) * 0.01)
        self.blocks = block_stack(3)
        self.post = nn.LayerNorm(WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH, bias=False)
        self.register_buffer("mask", torch.triu(torch.full((CONTEXT, CONTEXT), float("-inf")), 1))

    def forward(self, ids, eot):
        n = int(eot.max()) + 1
        z = self.embed(ids[:, :n]) + self.pos[:, :n]
        z = self.post(self.blocks(z, mask=self.mask[:n, :n]))
        return self.proj(z[torch.arange(len(z)), eot])


def readout_prompts(names, values):
    """The readout prompts of agreid's synthetic world (docs/synthetic-world.md)."""
    def article(p):
        return ("an " if p[0] in "aeiou" else "a ") + p

    def clause(name, v, s):
        if name in ("hair_colour", "hair_length"):
            return f"with {s} hair"
        if name == "hat":
            return "without a hat" if v == 0 else "wearing " + article(s)
        if name in ("upper_colour", "upper_pattern"):
            return "wearing " + article(s + " top")
        if name == "upper_type":
            return "wearing " + article(s)
        if name == "lower_colour":
            return f"wearing {s} bottoms"
        if name == "lower_type":
            return "wearing " + ("a skirt" if s == "skirt" else s)
        if name == "shoes_colour":
            return f"wearing {s} shoes"
        if name == "bag_type":
            return "carrying no bag" if v == 0 else "carrying " + article(s)
        if name == "bag_colour":
            return "carrying no bag" if v == 0 else "carrying " + article(s + " bag")
        sys.exit(f"reference_clip: no readout prompt for attribute {name}")

    return [[("a photo of a " + s) if name == "gender" else
             ("a photo of a person " + clause(name, v, s)) for v, s in enumerate(vals)]
            for name, vals in zip(names, values)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--holdout", type=int, default=1000, help="held-out people")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fuse-hair-colour", action="store_true",
                    help="write 'black hair' as one word 'blackhair' in captions and prompts, so "
                         "that hair colours share no word with garment colours")
    args = ap.parse_args()
    if args.steps <= 100 or args.batch_size < 2:
        sys.exit("reference_clip: --steps must exceed the 100 warm-up steps, --batch-size >= 2")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open_dataset(args.dataset, "reference_clip", ("captions/blob", "attributes/values")) as f:
        offsets = f["images/offsets"][()]
        blob = f["images/blob"][()]
        cap_offsets = f["captions/offsets"][()]
        cap_blob = f["captions/blob"][()].tobytes()
        pid = f["samples/pid"][()]
        values = np.asarray(f["attributes/values"][()], dtype=np.int64)
        names = [s.decode() for s in f["attributes/names"][()]]
        value_names = [s.decode() for s in f["attributes/value_names"][()]]
        value_offsets = f["attributes/value_offsets"][()]
    n = len(pid)
    pixels = decode_images(blob, offsets, n)
    captions = [cap_blob[cap_offsets[i]:cap_offsets[i + 1]].decode() for i in range(n)]
    prompts = readout_prompts(names, [value_names[value_offsets[a]:value_offsets[a + 1]]
                                      for a in range(len(names))])

    def words(s):
        s = s.lower()
        if args.fuse_hair_colour:
            s = re.sub(r"\b(black|brown|blonde|grey) hair\b", r"\1hair", s)
        return re.findall(r"[a-z]+|[^\sa-z]", s)

    vocab = {"<pad>": 0, "<sot>": 1, "<eot>": 2}
    for s in captions + sum(prompts, []):
        for w in words(s):
            vocab.setdefault(w, len(vocab))

    def tokens(texts):
        ids = torch.zeros(len(texts), CONTEXT, dtype=torch.long)
        eot = torch.zeros(len(texts), dtype=torch.long)
        for i, s in enumerate(texts):
            t = [1] + [vocab[w] for w in words(s)][:CONTEXT - 2] + [2]
            ids[i, :len(t)] = torch.tensor(t)
            eot[i] = len(t) - 1
        return ids, eot

    def images(idx):
        return torch.from_numpy(pixels[idx]).permute(0, 3, 1, 2).float().div(255).sub(0.45).div(0.27)

    rng = np.random.default_rng(args.seed)
    people = np.unique(pid)
    held = np.isin(pid, rng.choice(people, min(args.holdout, len(people) // 5), replace=False))
    train, test = np.nonzero(~held)[0], np.nonzero(held)[0]
    image_tower = ImageTower(pixels.shape[1], pixels.shape[2])
    text_tower = TextTower(len(vocab))
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = [*image_tower.parameters(), *text_tower.parameters(), logit_scale]
    opt = torch.optim.AdamW(params, args.lr, weight_decay=0.1)
    print(f"reference_clip: {len(train)} training images, {len(test)} held-out images of "
          f"{int(np.unique(pid[test]).size)} people, vocabulary {len(vocab)} words", flush=True)
    warmup, start = 100, time.time()
    for step in range(args.steps):
        lr = (args.lr * (step + 1) / warmup if step < warmup else
              args.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (args.steps - warmup))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.choice(train, args.batch_size, replace=False)
        x = images(idx)
        if rng.random() < 0.5:
            x = x.flip(3)
        fi = F.normalize(image_tower(x), dim=1)
        ft = F.normalize(text_tower(*tokens([captions[i] for i in idx])), dim=1)
        logits = logit_scale.exp() * fi @ ft.t()
        target = torch.arange(args.batch_size)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            logit_scale.clamp_(0, math.log(100))
        if step % 100 == 0 or step + 1 == args.steps:
            print(f"step {step + 1} loss {float(loss):.4f} temperature "
                  f"{float(logit_scale.neg().exp()):.4f} ({time.time() - start:.0f} s)", flush=True)
    image_tower.eval()
    text_tower.eval()
    colours, majorities = [], []
    with torch.no_grad():
        fi = F.normalize(torch.cat([image_tower(images(test[i:i + 512]))
                                    for i in range(0, len(test), 512)]), dim=1)
        for a, name in enumerate(names):
            ft = F.normalize(text_tower(*tokens(prompts[a])), dim=1)
            acc = float(((fi @ ft.t()).argmax(1).numpy() == values[test, a]).mean())
            majority = float((values[test, a] == np.bincount(values[train, a]).argmax()).mean())
            print(f"  {name:14s} {acc:.3f}  (majority {majority:.3f})")
            if name.endswith("colour"):
                colours.append(acc)
                majorities.append(majority)
    print(f"  colours (mean) {np.mean(colours):.3f}  (majority {np.mean(majorities):.3f})")


if __name__ == "__main__":
    main()
