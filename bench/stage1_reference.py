#!/usr/bin/python3
"""PyTorch peer of bench/stage1_bench.cc: one stage-1 step of `agreid pseudo-label` on W
processes of this machine (torch.distributed, gloo).

The same computation at the same sizes: learnable per-identity prompt tokens V (ctx
[ids, r, width]) written into a frozen template's embeddings at the placeholder positions,
OpenAI CLIP's text transformer (nn.MultiheadAttention, QuickGELU, causal mask, ln_final, pooling
at the EOT token, text_projection; frozen) run on the template's first eot + 1 positions, each
rank encoding its share of the global batch's distinct labels (--share global, as agreid; or
--share slice: the distinct labels of its slice of the batch); the text features
all-gathered with gradient (torch.distributed.nn.functional.all_gather); SupCon image <-> text
over the global batch; for AG-ReID the attribute encoder E_A (Linear, learnable queries, pre-LN
nn.TransformerEncoder with GELU, LayerNorm, Linear) on the rank's slice aligned by cosine to
sg(V), scaled like agreid's; gradients averaged over ranks in one flat all-reduce; Adam. Cached
image features are random; identity k owns images k, k + ids, ...; epoch e visits them in a
seeded permutation. The template (its length, placeholder positions and EOT) comes from the C++
side (its "prompt length L positions p,q,... eot e" line), which tokenises it with CLIP's BPE.

Prints "pytorch_stage1_ms <mean> <min>" (slowest rank's per step); --breakdown 1 also prints
"phase <name>: <ms> ms" (rank 0's mean) for the same phases as the C++ side.
usage: stage1_reference.py --length L --positions p,q,... --eot E [--ranks 2] [--steps 50]
       [--warmup 5] [--images 1600] [--ids 100] [--batch 64] [--embed 128] [--text-width 128]
       [--text-layers 3] [--text-heads 4] [--enc-width 128] [--enc-layers 2] [--enc-heads 4]
       [--enc-ffn 384] [--threads 1] [--breakdown 0] [--method ag-reid|clip-reid]
       [--share global|slice] [--port 0: free]
"""

import argparse
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_reference import LayerNorm, ResidualAttentionBlock  # noqa: E402


class TextTower(nn.Module):
    """CLIP's text transformer after the token embedding (model/clip/model.py)."""

    def __init__(self, width, layers, heads, embed, length):
        super().__init__()
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(length, width))
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_final = LayerNorm(width)
        self.text_projection = nn.Parameter(width ** -0.5 * torch.randn(width, embed))
        self.register_buffer("mask", torch.full((length, length), float("-inf")).triu_(1))

    def forward(self, prompts, eot):
        x = (prompts + self.positional_embedding).permute(1, 0, 2)  # NLD -> LND
        for blk in self.blocks:
            h = blk.ln_1(x)
            x = x + blk.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
            x = x + blk.mlp(blk.ln_2(x))
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


class PromptLearner(nn.Module):
    def __init__(self, ids, width, length, positions):
        super().__init__()
        self.register_buffer("token_base", 0.02 * torch.randn(length, width))
        self.register_buffer("positions", torch.tensor(positions))
        self.ctx = nn.Parameter(0.02 * torch.randn(ids, len(positions), width))

    def forward(self, labels):
        base = self.token_base.unsqueeze(0).expand(labels.shape[0], -1, -1)
        return base.index_copy(1, self.positions, self.ctx[labels])


class AttributeEncoder(nn.Module):
    def __init__(self, in_dim, tokens, width, layers, heads, ffn, token_dim):
        super().__init__()
        self.input_proj = nn.Linear(in_dim, width)
        self.queries = nn.Parameter(0.02 * torch.randn(tokens, width))
        layer = nn.TransformerEncoderLayer(width, heads, ffn, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln_final = nn.LayerNorm(width)
        self.output_proj = nn.Linear(width, token_dim)

    def forward(self, f_proj):
        x = self.input_proj(f_proj).unsqueeze(1) + self.queries.unsqueeze(0)
        return self.output_proj(self.ln_final(self.transformer(x)))


def supcon(anchors, contrast, a_labels, c_labels, temperature=1.0):
    mask = (a_labels.unsqueeze(1) == c_labels.unsqueeze(0)).float()
    logits = anchors @ contrast.t() / temperature
    logits = logits - logits.max(1, keepdim=True)[0].detach()
    log_prob = logits - logits.exp().sum(1, keepdim=True).log()
    return -((mask * log_prob).sum(1) / mask.sum(1)).mean()


class Phases:
    """Named phase times: wall and process CPU (every thread), ms."""

    def __init__(self):
        self.ms, self.cpu_ms = {}, {}
        self.start()

    def start(self):
        self.t, self.cpu = time.perf_counter(), time.process_time()

    def mark(self, name):
        now, cpu = time.perf_counter(), time.process_time()
        self.ms[name] = self.ms.get(name, 0.0) + 1e3 * (now - self.t)
        self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + 1e3 * (cpu - self.cpu)
        self.t, self.cpu = now, cpu


def worker(rank, a, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    world = a.ranks
    torch.manual_seed(1234)
    length = a.eot + 1  # agreid's Note [EOT trimming]: the positions after EOT change nothing
    text = TextTower(a.text_width, a.text_layers, a.text_heads, a.embed, length)
    text.requires_grad_(False)
    learner = PromptLearner(a.ids, a.text_width, length, a.positions)
    params = [learner.ctx]
    encoder = None
    if a.method == "ag-reid":
        encoder = AttributeEncoder(a.embed, len(a.positions), a.enc_width, a.enc_layers,
                                   a.enc_heads, a.enc_ffn, a.text_width)
        params += list(encoder.parameters())
    for p in params:  # rank 0's initial values, like agreid's GradientReducer
        dist.broadcast(p.data, 0)
    optimizer = torch.optim.Adam(params, lr=3.5e-3, weight_decay=1e-4)
    features = torch.randn(a.images, a.embed)
    labels = torch.arange(a.images) % a.ids
    eot = torch.tensor(a.eot)
    steps_per_epoch = (a.images + a.batch - 1) // a.batch

    times, losses, phases, perm = [], [], Phases(), None
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            phases = Phases()
        dist.barrier()
        t0 = time.perf_counter()
        phases.start()
        epoch, begin = divmod(s, steps_per_epoch)
        begin *= a.batch
        if begin == 0:
            gen = torch.Generator().manual_seed(1234 * 1000003 + epoch)
            perm = torch.randperm(a.images, generator=gen)
        chunk = perm[begin:begin + a.batch]
        y, img = labels[chunk], features[chunk]
        count = y.shape[0]
        lo, hi = count * rank // world, count * (rank + 1) // world
        phases.mark("sample")
        if a.share == "global":  # agreid's: the batch's distinct labels shared out evenly
            unique, inverse = torch.unique(y, sorted=True, return_inverse=True)
            share = -(-unique.shape[0] // world)
            mine = unique[rank * share:(rank + 1) * share]
            mine = torch.cat([mine, unique[-1:].expand(share - mine.shape[0])])
            t = text(learner(mine), eot.expand(share))
            t = torch.cat(dist_fn.all_gather(t), 0)[inverse]
        else:  # each rank the distinct labels of its own slice
            unique, inverse = torch.unique(y[lo:hi], sorted=True, return_inverse=True)
            t = text(learner(unique), eot.expand(unique.shape[0]))[inverse]
            t = torch.cat(dist_fn.all_gather(t), 0)
        phases.mark("text forward + all-gather")
        loss = supcon(img, t, y, y) + supcon(t, img, y, y)
        phases.mark("SupCon forward")
        attr = None
        if encoder is not None:
            pred = encoder(img[lo:hi])
            cos = F.cosine_similarity(pred, learner.ctx[y[lo:hi]].detach(), dim=2, eps=1e-8)
            attr = -(world / count) * cos.mean(1).sum()
            phases.mark("E_A + alignment forward")
        optimizer.zero_grad(set_to_none=False)
        phases.mark("zero_grad")
        if a.breakdown:
            loss.backward()
            phases.mark("SupCon + text backward")
            if attr is not None:
                attr.backward()
                phases.mark("E_A + alignment backward")
        else:
            (loss if attr is None else loss + attr).backward()
            phases.mark("backward")
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for p in params:
            p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        phases.mark("all-reduce")
        optimizer.step()
        phases.mark("Adam")
        total = float(loss) + (float(attr) if attr is not None else 0.0)
        ms = torch.tensor([1e3 * (time.perf_counter() - t0)])
        dist.all_reduce(ms, op=dist.ReduceOp.MAX)
        losses.append(total)
        if s >= a.warmup:
            times.append(float(ms))
    if rank == 0:
        n = sum(p.numel() for p in params)
        print(f"pytorch {torch.__version__} {a.method} gloo ranks {world}, threads {a.threads}, "
              f"{n} parameters")
        if a.breakdown:
            for name, ms in phases.ms.items():
                cpu = phases.cpu_ms[name] / a.steps
                print(f"phase {name}: {ms / a.steps:.2f} ms (cpu {cpu:.2f} ms)")
        print(f"pytorch_cpu_ms {sum(phases.cpu_ms.values()) / a.steps:.2f} "
              "(rank 0's process CPU time per step)")
        print(f"pytorch loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        print(f"pytorch_stage1_ms {sum(times) / len(times):.2f} {min(times):.2f}")
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for name, default in [("ranks", 2), ("steps", 50), ("warmup", 5), ("images", 1600),
                          ("ids", 100), ("batch", 64), ("embed", 128), ("text-width", 128),
                          ("text-layers", 3), ("text-heads", 4), ("enc-width", 128),
                          ("enc-layers", 2), ("enc-heads", 4), ("enc-ffn", 384), ("threads", 1),
                          ("breakdown", 0), ("length", 0), ("eot", 0), ("port", 0)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--positions", required=True, help="placeholder positions, comma-separated")
    p.add_argument("--method", default="ag-reid", choices=["ag-reid", "clip-reid"])
    p.add_argument("--share", default="global", choices=["global", "slice"],
                   help="which prompts a rank encodes: its share of the batch's distinct labels "
                   "(agreid's) or the distinct labels of its slice")
    a = p.parse_args()
    a.positions = [int(x) for x in a.positions.split(",")]
    if not 0 < a.eot < a.length or max(a.positions) >= a.eot:
        p.error("--length, --eot and --positions: placeholders before the EOT inside the prompt")
    # One intra-op thread per rank, as agreid: torch.set_num_threads in the worker alone leaves
    # another thread busy (process CPU time above wall time); the environment reaches the
    # OpenMP and MKL runtimes of the spawned processes before they start.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(a.threads)
    port = a.port
    if port == 0:  # a free one: other jobs on the machine may hold any fixed port
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    mp.spawn(worker, args=(a, port), nprocs=a.ranks, join=True)


if __name__ == "__main__":
    main()
