#!/usr/bin/env python3
"""PyTorch inference peer of `agreid extract` (bench/extract_bench.sh): the projected CLIP image
feature of every image of an agreid dataset file, batched.

The JPEGs are read with h5py from the file's images/blob, decoded with PIL, resized to the model's
input size (torchvision's Resize, bilinear with antialiasing like agreid's test transform) and
normalised with mean = std = 0.5 (agreid's defaults) by a torch DataLoader with --workers worker
processes; the model is OpenAI CLIP's vision tower (bench/pretrain_reference.py) with the initial
weights pretrain_step_bench saved (--load), in eval mode under torch.no_grad, with
torch.set_num_threads(--threads).

Prints "pytorch_extract_images_per_s <rate>" -- images over the seconds from creating the loader
to the last batch's features, the span agreid's own rate covers -- and, with --compare FEATURES.h5
(agreid's output for the same file and weights), the largest absolute difference of the features.
usage: extract_reference.py DATA.h5 --load FILE [--batch 64] [--workers 1] [--threads 1]
       [--compare FEATURES.h5]
"""

import argparse
import io
import os
import sys
import time

import h5py
import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pretrain_reference import Clip, load  # noqa: E402


class H5Images(torch.utils.data.Dataset):
    def __init__(self, path, transform):
        self.path, self.transform, self.file = path, transform, None
        with h5py.File(path, "r") as f:
            self.offsets = f["images/offsets"][()]

    def __len__(self):
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if self.file is None:  # opened in each worker process
            self.file = h5py.File(self.path, "r")
        data = self.file["images/blob"][self.offsets[i]:self.offsets[i + 1]].tobytes()
        return self.transform(Image.open(io.BytesIO(data)).convert("RGB"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("--load", required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compare")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    arch, weights, _, _ = load(a.load)
    model = Clip(arch)
    model.load_state_dict(weights, strict=True)
    visual = model.visual.eval()
    transform = T.Compose([T.Resize((arch["height"], arch["width"])), T.ToTensor(),
                           T.Normalize(mean=[0.5] * 3, std=[0.5] * 3)])
    data = H5Images(a.data, transform)
    features = []
    t0 = time.perf_counter()
    loader = torch.utils.data.DataLoader(data, batch_size=a.batch, num_workers=a.workers)
    first = None
    with torch.no_grad():
        for images in loader:
            first = first or time.perf_counter() - t0
            features.append(visual(images))
    seconds = time.perf_counter() - t0
    features = torch.cat(features)
    print(f"pytorch {torch.__version__}, {len(data)} images, batch {a.batch}, workers {a.workers},"
          f" threads {a.threads}; first batch after {first:.2f} s")
    print(f"pytorch_extract_images_per_s {len(data) / seconds:.1f}")
    if a.compare:
        with h5py.File(a.compare, "r") as f:
            ours = torch.from_numpy(f["features"][()])
        print(f"max_abs_feature_difference {float((ours - features).abs().max()):.3g} "
              f"(feature scale {float(features.abs().max()):.3g})")


if __name__ == "__main__":
    main()
