#!/usr/bin/env python3
"""Supervised ceiling of attribute recognition on a synthetic pretraining set (docs/results.md,
"Looking for a CLIP that knows attributes").

Zero-shot accuracy and the linear probe (scripts/clip_probe.py) say what a pretrained CLIP knows.
This script says what the pixels allow: a small network trained *with* the attribute labels on the
images of some people, scored on the images of other people (a fifth, drawn with --seed), next to
the majority value of the training people. `--arch vit` is the CLIP image tower's shape (patch 8,
width 128, 4 layers, 4 heads, class token) with one linear head; `--arch cnn` is five 3x3
convolutions with three 2x2 poolings. Both train with AdamW on the sum of one cross-entropy per
attribute, batch 128, no augmentation.

Usage:
  scripts/attribute_ceiling.py PRETRAIN.h5 [--arch cnn|vit] [--images 60000] [--steps 1500]
"""
import argparse
import sys
import time

import numpy as np
import torch
import torch.nn as nn

from dataset_file import decode_images, open_dataset


class ViT(nn.Module):
    def __init__(self, height, width, outputs, patch=8, dim=128, layers=4, heads=4):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, patch, bias=False)
        tokens = (height // patch) * (width // patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.pre = nn.LayerNorm(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, 0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.post = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, outputs)

    def forward(self, x):
        z = self.embed(x).flatten(2).transpose(1, 2)
        z = torch.cat([self.cls.expand(len(z), -1, -1), z], 1) + self.pos
        return self.head(self.post(self.blocks(self.pre(z))[:, 0]))


def cnn(height, width, outputs):
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*conv(3, 32), *conv(32, 32), nn.MaxPool2d(2), *conv(32, 64),
                         *conv(64, 64), nn.MaxPool2d(2), *conv(64, 128), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(128 * (height // 8) * (width // 8), 256),
                         nn.ReLU(), nn.Linear(256, outputs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--arch", choices=["cnn", "vit"], default="cnn")
    ap.add_argument("--images", type=int, default=60000, help="first N images of the file")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.images < 10 or args.steps < 1:
        sys.exit("attribute_ceiling: --images must be >= 10 and --steps >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    with open_dataset(args.dataset, "attribute_ceiling", ("attributes",)) as f:
        offsets = f["images/offsets"][()]
        n = min(args.images, len(offsets) - 1)
        blob = f["images/blob"][0:offsets[n]]
        pid = f["samples/pid"][:n]
        values = np.asarray(f["attributes/values"][:n], dtype=np.int64)
        names = [s.decode() for s in f["attributes/names"][()]]
    pixels = decode_images(blob, offsets, n)
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.25)
    y = torch.from_numpy(values)
    people = np.unique(pid)
    rng = np.random.default_rng(args.seed)
    test = torch.from_numpy(np.isin(pid, rng.choice(people, len(people) // 5, replace=False)))
    classes = [int(values[:, a].max()) + 1 for a in range(values.shape[1])]
    height, width = x.shape[2], x.shape[3]
    net = (ViT(height, width, sum(classes)) if args.arch == "vit"
           else cnn(height, width, sum(classes)))
    opt = torch.optim.AdamW(net.parameters(), 5e-4 if args.arch == "vit" else 1e-3)
    xtr, ytr = x[~test], y[~test]
    print(f"attribute_ceiling: {args.arch}, {n} images of {len(people)} people, "
          f"{int((~test).sum())} to train, {int(test.sum())} of other people to score", flush=True)
    start = time.time()
    for step in range(args.steps):
        idx = torch.randint(0, len(xtr), (128,))
        logits = net(xtr[idx]).split(classes, dim=1)
        loss = sum(nn.functional.cross_entropy(l, ytr[idx, a]) for a, l in enumerate(logits))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step + 1 == args.steps:
            print(f"step {step + 1} loss {float(loss):.4f} ({time.time() - start:.0f} s)", flush=True)
    net.eval()
    with torch.no_grad():
        xte, yte = x[test], y[test]
        logits = torch.cat([net(xte[i:i + 512]) for i in range(0, len(xte), 512)]).split(classes, 1)
    colours, majorities = [], []
    for a, l in enumerate(logits):
        acc = (l.argmax(1) == yte[:, a]).float().mean().item()
        majority = (yte[:, a] == int(np.bincount(ytr[:, a].numpy()).argmax())).float().mean().item()
        print(f"  {names[a]:14s} {acc:.3f}  (majority {majority:.3f})")
        if names[a].endswith("colour"):
            colours.append(acc)
            majorities.append(majority)
    print(f"  colours (mean) {np.mean(colours):.3f}  (majority {np.mean(majorities):.3f})")


if __name__ == "__main__":
    main()
