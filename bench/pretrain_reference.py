#!/usr/bin/env python3
"""PyTorch DistributedDataParallel (gloo) peer of bench/pretrain_step_bench.cc: one CLIP
pretraining step of the same model on the same global batch over W processes of this machine.

The model is OpenAI CLIP's (model/clip/model.py: nn.MultiheadAttention, QuickGELU, pre-LN blocks,
sequence-first; image feature ln_post(class token) @ proj, text feature at the EOT token @
text_projection), built from the architecture the C++ side saved and loaded with its initial
weights (--load FILE, written by `pretrain_step_bench --save FILE`), so both sides start from the
same parameters and batch. Like agreid, the text tower runs on the batch's used length (last EOT
+ 1) instead of the full context. The loss is OpenCLIP's distributed form with local_loss=True and
gather_with_grad=True: each rank L2-normalises its features, all-gathers them with gradient (the
backward all-reduces the gathered gradient and keeps the rank's rows: gloo has no
reduce-scatter), and scores its own rows against all columns. AdamW with decay (dim >= 2) and
no-decay groups, lr 5e-4, weight decay 0.1; the temperature clamped at 1/100 after the step. DDP's
default 25 MiB buckets, `torch.set_num_threads(--threads)` in every process.

Prints the parameter count, the forward FLOPs of rank 0's matrix products (counted from the
profiler's operator shapes as the C++ side counts them), the global loss of the first step,
"pytorch_ddp_pretrain_step_ms <mean> <min>" (slowest rank's), the process CPU time per step (all
threads, summed over ranks) and, with --phases 1, rank 0's wall time and main-thread CPU time
per phase of a step; --ops N: after the timed steps, rank 0's N operators with the most self
CPU time in 3 profiled steps.
usage: pretrain_reference.py --load FILE [--ranks 2] [--steps 20] [--warmup 3] [--threads 1]
       [--phases 1] [--ops N]
       [the model and batch options of pretrain_step_bench: checked against FILE]
"""

import argparse
import math
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_reference import LayerNorm, ResidualAttentionBlock  # noqa: E402


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads)
                                        for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for blk in self.resblocks:
            x = blk(x, attn_mask)
        return x


class VisualTransformer(nn.Module):
    def __init__(self, grid, patch, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class Clip(nn.Module):
    def __init__(self, a):
        super().__init__()
        grid = (a["height"] // a["patch"]) * (a["width"] // a["patch"])
        self.visual = VisualTransformer(grid, a["patch"], a["vision-width"], a["layers"],
                                        a["heads"], a["embed"])
        w = a["text-width"]
        self.transformer = Transformer(w, a["text-layers"], a["text-heads"])
        self.token_embedding = nn.Embedding(a["vocab"], w)
        self.positional_embedding = nn.Parameter(torch.empty(a["context"], w))
        self.ln_final = LayerNorm(w)
        self.text_projection = nn.Parameter(torch.empty(w, a["embed"]))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_text(self, ids):
        n = ids.shape[1]
        mask = torch.full((n, n), float("-inf")).triu_(1)
        x = self.token_embedding(ids) + self.positional_embedding[:n]
        x = self.ln_final(self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection

    def forward(self, images, ids):
        return self.visual(images), self.encode_text(ids)


class GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        out = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(out, x.contiguous(), group=group)
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad, group=ctx.group)
        n = grad.shape[0] // dist.get_world_size(ctx.group)
        rank = dist.get_rank(ctx.group)
        return grad[rank * n:(rank + 1) * n], None


def clip_loss(image, text, logit_scale, group):
    i, t = F.normalize(image, dim=1), F.normalize(text, dim=1)
    all_i, all_t = GatherWithGrad.apply(i, group), GatherWithGrad.apply(t, group)
    b = image.shape[0]
    targets = torch.arange(b) + b * dist.get_rank()
    scale = logit_scale.exp().clamp(max=100.0)
    return (F.cross_entropy(scale * i @ all_t.t(), targets) +
            F.cross_entropy(scale * t @ all_i.t(), targets)) / 2


def matmul_flops(events):
    """Forward FLOPs of the matrix products among profiled operators, counted from their input
    shapes exactly as pretrain_step_bench.cc's matmulFlops()."""
    flops = 0
    for e in events:
        s = [list(x) for x in e.input_shapes]
        if len(s) < 2 or not s[0] or not s[1]:
            continue
        x, w = (s[1], s[2]) if e.name in ("aten::addmm", "aten::baddbmm") else (s[0], s[1])
        if e.name in ("aten::mm", "aten::addmm"):
            flops += 2 * x[0] * x[1] * w[1]
        elif e.name in ("aten::bmm", "aten::baddbmm"):
            flops += 2 * x[0] * x[1] * x[2] * w[2]
        elif e.name == "aten::mkldnn_convolution" and len(x) == 4 and len(w) == 4:
            flops += 2 * x[0] * w[0] * w[1] * w[2] * w[3] * (x[2] // w[2]) * (x[3] // w[3])
    return flops


ARCH_OPTIONS = ["batch", "height", "width", "patch", "vision-width", "layers", "heads", "embed",
                "text-width", "text-layers", "text-heads", "seed"]


def load(path):
    saved = torch.load(path)
    arch = {k[5:]: int(v) for k, v in saved.items() if k.startswith("arch.")}
    weights = {k[8:]: v for k, v in saved.items() if k.startswith("weights.")}
    arch["vocab"], arch["context"] = weights["token_embedding.weight"].shape[0], \
        weights["positional_embedding"].shape[0]
    return arch, weights, saved["images"], saved["tokens"]


def worker(rank, a, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    gather_group = dist.new_group()  # the loss's collectives, apart from DDP's buckets
    arch, weights, images, tokens = load(a.load)
    clip = Clip(arch)
    clip.load_state_dict(weights, strict=True)
    model = nn.parallel.DistributedDataParallel(clip.train())
    decay = [p for p in clip.parameters() if p.dim() >= 2]
    no_decay = [p for p in clip.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=5e-4)
    local = images.shape[0] // a.ranks
    images = images[rank * local:(rank + 1) * local].contiguous()
    tokens = tokens[rank * local:(rank + 1) * local]
    tokens = tokens[:, :int(tokens.argmax(dim=-1).max()) + 1].contiguous()  # used length

    # name -> [wall ms, main thread CPU ms] over the timed steps (rank 0 prints them, --phases 1)
    phases = {}
    last = [0.0, 0.0]

    def mark(name, counting):
        now = [time.perf_counter(), time.thread_time()]
        if counting:
            p = phases.setdefault(name, [0.0, 0.0])
            p[0] += 1e3 * (now[0] - last[0])
            p[1] += 1e3 * (now[1] - last[1])
        last[:] = now

    def forward_backward(counting=False):
        last[:] = [time.perf_counter(), time.thread_time()]
        image, text = model(images, tokens)
        mark("towers forward", counting)
        loss = clip_loss(image, text, clip.logit_scale, gather_group)
        mark("loss forward", counting)
        optimizer.zero_grad()
        loss.backward()
        mark("backward + all-reduce", counting)
        return loss

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                record_shapes=True) as prof:
        image, text = clip(images, tokens)  # the module itself: DDP expects a backward
        clip_loss(image, text, clip.logit_scale, gather_group)
    flops = matmul_flops(prof.events())

    times, losses = [], []
    cpu_ms = 0.0
    for s in range(a.warmup + a.steps):
        dist.barrier()
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        loss = forward_backward(a.phases and s >= a.warmup)
        optimizer.step()
        with torch.no_grad():
            clip.logit_scale.clamp_(0, math.log(100.0))
        mark("optimizer", a.phases and s >= a.warmup)
        value = float(loss)
        ms = torch.tensor([1e3 * (time.perf_counter() - t0)])
        cpu = torch.tensor([1e3 * (time.process_time() - cpu0)])
        dist.all_reduce(cpu)
        dist.all_reduce(ms, op=dist.ReduceOp.MAX)
        total = torch.tensor([value])
        dist.all_reduce(total)
        losses.append(float(total) / a.ranks)
        if s >= a.warmup:
            times.append(float(ms))
            cpu_ms += float(cpu)
    if a.ops > 0:  # after the timed steps: 3 more steps under the profiler
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                forward_backward()
                optimizer.step()
        if rank == 0:
            rows = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:a.ops]
            for e in rows:
                print(f"pytorch_op_rank0 {e.key:<40} {e.self_cpu_time_total / 3e3:8.2f} ms self "
                      "per step")
    if rank == 0:
        n = sum(p.numel() for p in clip.parameters())
        print(f"pytorch {torch.__version__} ddp gloo ranks {a.ranks}, threads {a.threads}, "
              f"global batch {local * a.ranks}, text length {tokens.shape[1]}")
        print(f"pytorch_parameters {n}")
        print(f"pytorch_forward_matmul_gflops_rank0 {flops / 1e9:.4f}")
        print(f"pytorch_loss {losses[0]:.6f} -> {losses[-1]:.6f}")
        print(f"pytorch_ddp_pretrain_step_ms {sum(times) / len(times):.2f} {min(times):.2f}")
        print(f"pytorch_cpu_ms_per_step_all_ranks {cpu_ms / a.steps:.1f}")
        for name, (wall, cpu) in phases.items():
            print(f"pytorch_phase_rank0 {name:<24} wall {wall / a.steps:8.1f} ms, "
                  f"thread CPU {cpu / a.steps:8.1f} ms")
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--load", required=True)
    for name, default in [("ranks", 2), ("steps", 20), ("warmup", 3), ("threads", 1),
                          ("port", 29521), ("phases", 0), ("ops", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    # The C++ side's model and batch options: taken from --load; when given they must match it.
    for name in ARCH_OPTIONS:
        p.add_argument("--" + name, type=int)
    a = p.parse_args()
    arch = load(a.load)[0]
    for name in ARCH_OPTIONS:
        given = getattr(a, name.replace("-", "_"))
        if given is not None and given != arch[name]:
            p.error(f"--{name} {given} differs from {a.load}'s {arch[name]}")
    mp.spawn(worker, args=(a, a.port), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
