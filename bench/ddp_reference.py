#!/usr/bin/env python3
"""PyTorch DistributedDataParallel (gloo) peer of bench/ddp_step_bench.cc: one stage-2 training
step of the same small CLIP re-ID model on W processes of this machine.

The model is bench/gpu_stage2_reference.py's (CLIP ViT with SIE, BNNecks, bias-free classifiers,
attribute encoder E_A) at the benchmark's size; the losses are the same terms (ID cross-entropy
with label smoothing on both heads, batch-hard triplet on f_last, f, f_proj, image-to-text
cross-entropy, Otsu-masked attribute guidance) on each rank's own part of the batch, as usual
with DDP; Adam with per-tensor groups. DDP's default 25 MiB buckets, gloo over shared memory /
loopback TCP, `torch.set_num_threads(--threads)` in every process.

Prints "pytorch_ddp_step_ms <mean> <min>" (slowest rank's per step) like the C++ side.
usage: ddp_reference.py [--ranks 2] [--steps 20] [--warmup 3] [--batch 64] [--k 4]
       [--height 128] [--width 64] [--patch 8] [--vision-width 192] [--layers 4] [--heads 4]
       [--embed 192] [--ids 100] [--cams 4] [--threads 1]
"""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_stage2_reference import (AttributeEncoder, VisionTransformer, make_optimizer,  # noqa: E402
                                  stage2_loss)


class SmallStage2Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.visual = VisionTransformer(a.height, a.width, a.patch, a.patch, a.vision_width,
                                        a.layers, a.heads, a.embed, a.cams, 1.0)
        self.bottleneck = nn.BatchNorm1d(a.vision_width)
        self.bottleneck_proj = nn.BatchNorm1d(a.embed)
        for bn in (self.bottleneck, self.bottleneck_proj):
            bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(a.vision_width, a.ids, bias=False)
        self.classifier_proj = nn.Linear(a.embed, a.ids, bias=False)
        self.attr = AttributeEncoder(in_dim=a.embed, width=128, tokens=16, layers=2, heads=4,
                                     ffn=384)

    def forward(self, images, cams):
        f_last, f, f_proj = self.visual(images, cams)
        scores = [self.classifier(self.bottleneck(f)),
                  self.classifier_proj(self.bottleneck_proj(f_proj))]
        return scores, [f_last, f, f_proj], self.attr(f_proj)


def worker(rank, a, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    torch.manual_seed(1234)
    model = nn.parallel.DistributedDataParallel(SmallStage2Model(a).train())
    optimizer = make_optimizer(model.module)
    local = a.batch // a.ranks
    local_ids = local // a.k
    gen = torch.Generator().manual_seed(42)
    pids = torch.randperm(a.ids, generator=gen)[: a.batch // a.k]
    labels = pids[rank * local_ids:(rank + 1) * local_ids].repeat_interleave(a.k)
    text_all = torch.randn(a.ids, a.embed, generator=gen)
    ctx = 0.02 * torch.randn(a.ids, 16, a.embed, generator=gen)
    gen.manual_seed(1000 + rank)
    images = torch.randn(local, 3, a.height, a.width, generator=gen)
    cams = torch.randint(0, a.cams, (local,), generator=gen)

    times, losses = [], []
    for s in range(a.warmup + a.steps):
        dist.barrier()
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        scores, feats, attr_tokens = model(images, cams)
        loss, _ = stage2_loss(scores, feats, attr_tokens, labels, text_all, ctx)
        loss.backward()
        optimizer.step()
        ms = torch.tensor([1e3 * (time.perf_counter() - t0)])
        dist.all_reduce(ms, op=dist.ReduceOp.MAX)
        losses.append(float(loss))
        if s >= a.warmup:
            times.append(float(ms))
    if rank == 0:
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"pytorch {torch.__version__} ddp gloo ranks {a.ranks}, threads {a.threads}, "
              f"{n} parameters")
        print(f"pytorch loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        print(f"pytorch_ddp_step_ms {sum(times) / len(times):.2f} {min(times):.2f}")
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in [("ranks", 2), ("steps", 20), ("warmup", 3), ("batch", 64), ("k", 4),
                          ("height", 128), ("width", 64), ("patch", 8), ("vision-width", 192),
                          ("layers", 4), ("heads", 4), ("embed", 192), ("ids", 100), ("cams", 4),
                          ("threads", 1), ("port", 29517)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    if a.batch % (a.k * a.ranks):
        p.error("--batch must be a multiple of k x ranks")
    mp.spawn(worker, args=(a, a.port), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
