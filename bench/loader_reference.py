"""PyTorch DataLoader peer of bench/loader_bench.cc: the same JPEG folder, PIL decoding and the
torchvision train transforms of CLIP-ReID (resize 256x128 bicubic, flip, pad 10 + random crop,
normalise, random erasing with per-pixel noise), batch 64, num_workers=2. Prints
"pytorch_dataloader <images/s>" (best epoch)."""
import argparse
import glob
import os
import time

import torch
import torchvision.transforms as T
from PIL import Image


class Folder(torch.utils.data.Dataset):
    def __init__(self, root, transform):
        self.files = sorted(glob.glob(os.path.join(root, "*.jpg")))
        self.transform = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        name = os.path.basename(self.files[i])
        pid = int(name.split("_")[0])
        return self.transform(Image.open(self.files[i]).convert("RGB")), pid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    transform = T.Compose([
        T.Resize((256, 128), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(p=0.5),
        T.Pad(10),
        T.RandomCrop((256, 128)),
        T.ToTensor(),
        T.Normalize(mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5]),
        T.RandomErasing(p=0.5, value="random"),
    ])
    data = Folder(args.folder, transform)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True,
                                         num_workers=args.workers, drop_last=True)
    best = 0.0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        n = 0
        for images, _ in loader:
            n += images.shape[0]
        best = max(best, n / (time.perf_counter() - t0))
    print("pytorch_dataloader %.1f" % best)


if __name__ == "__main__":
    main()
