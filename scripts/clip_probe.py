#!/usr/bin/env python3
"""Linear probe of CLIP image features on held-out people (docs/results.md, "Looking for a CLIP
that knows attributes").

Zero-shot accuracy (agreid pretrain) measures what the image *and* the text tower agree on. This
probe measures the image tower alone: for each attribute, ridge regression onto one-hot values
(closed form) is fitted on the features of some people and scored on the images of other people,
next to the majority value of the training people. A probe far above zero-shot says the image
features hold the attribute and the text side (or the alignment) is what is missing; a probe near
zero-shot says the image tower never learned it.

Usage:
  agreid extract --weights CLIP.pt --data PRETRAIN.h5 --out FEATS.h5
  scripts/clip_probe.py FEATS.h5 PRETRAIN.h5 [--test-fraction 0.2] [--seed 1] [--lam 1e-2]
"""
import argparse
import sys

import h5py
import numpy as np


def read_strings(dataset):
    return [s.decode() if isinstance(s, bytes) else str(s) for s in dataset[()]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    ap.add_argument("dataset")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lam", type=float, default=1e-2, help="ridge penalty per sample")
    args = ap.parse_args()
    if not 0 < args.test_fraction < 1:
        sys.exit("clip_probe: --test-fraction must be in (0, 1)")

    with h5py.File(args.features, "r") as f:
        feats = np.asarray(f["features"][()], dtype=np.float64)
        index = np.asarray(f["index"][()], dtype=np.int64)
        pid = np.asarray(f["pid"][()], dtype=np.int64)
    with h5py.File(args.dataset, "r") as d:
        if "attributes" not in d:
            sys.exit(f"clip_probe: {args.dataset} stores no /attributes")
        values = np.asarray(d["attributes/values"][()], dtype=np.int64)[index]
        names = read_strings(d["attributes/names"])
        vis = d["attributes/visibility"][()][index] if "visibility" in d["attributes"] else None

    feats /= np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12)
    x = np.concatenate([feats, np.ones((len(feats), 1))], axis=1)
    people = np.unique(pid)
    rng = np.random.default_rng(args.seed)
    test_people = rng.choice(people, size=max(1, int(len(people) * args.test_fraction)),
                             replace=False)
    test = np.isin(pid, test_people)
    train = ~test
    xtx = x[train].T @ x[train] + args.lam * train.sum() * np.eye(x.shape[1])
    print(f"clip_probe: {len(feats)} images of {len(people)} people, features {feats.shape[1]}; "
          f"fit on {train.sum()} images, scored on {test.sum()} images of {len(test_people)} "
          "other people")
    print(f"{'attribute':<14} {'probe':>6} {'visible':>8} {'majority':>9}")
    colour = []
    for a, name in enumerate(names):
        y = values[:, a]
        ok_train = train & (y >= 0)
        ok_test = test & (y >= 0)
        k = int(y.max()) + 1
        onehot = np.eye(k)[y[ok_train]]
        w = np.linalg.solve(xtx, x[ok_train].T @ onehot)
        pred = (x[ok_test] @ w).argmax(axis=1)
        acc = float((pred == y[ok_test]).mean())
        majority_value = np.bincount(y[ok_train], minlength=k).argmax()
        maj = float((y[ok_test] == majority_value).mean())
        vis_acc = float("nan")
        if vis is not None:
            seen = vis[ok_test, a] >= 0.5
            if seen.any():
                vis_acc = float((pred[seen] == y[ok_test][seen]).mean())
        print(f"{name:<14} {acc:6.3f} {vis_acc:8.3f} {maj:9.3f}")
        if name.endswith("colour"):
            colour.append((acc, maj))
    if colour:
        c = np.array(colour)
        print(f"{'colours (mean)':<14} {c[:, 0].mean():6.3f} {'':>8} {c[:, 1].mean():9.3f}")


if __name__ == "__main__":
    main()
