#!/usr/bin/env python3
"""PyTorch reference of one AG-ReID stage-2 training step, for the GPU benchmark (docs/gpu.md).

What one step does (method.md sections 1.1, 1.4 and 2.3):
  * CLIP ViT-B/16 image encoder at 256x128 (patch 16, stride 16 by default, width 768, 12 pre-LN
    blocks with 12 heads, MLP 3072, QuickGELU, ln_post, 768x512 projection), SIE camera
    embedding added to the CLS token, random initialisation;
  * BNNecks (BatchNorm1d 768 and 512, biases frozen) and bias-free classifiers over N identities;
  * losses: ID cross-entropy with label smoothing 0.1 on both heads (weight 0.25), batch-hard
    triplet (margin 0.3) on f_last, f and f_proj, image-to-text cross-entropy (label smoothing)
    of f_proj against fixed text features of all N identities, and attribute guidance (weight
    0.01): an attribute encoder E_A (4 pre-LN layers, width 256) maps f_proj to 16 tokens that are
    pulled towards the frozen per-identity prompt tokens, masked with a per-batch Otsu threshold;
  * Adam (lr 5e-6, weight decay 1e-4, bias lr x2), bf16 autocast and TF32 on CUDA.
The text features and prompt tokens are fixed inputs of stage 2 (computed once before it), so
they are random tensors here. Images are random tensors already on the device: the benchmark
measures the training step, not the loader.

Reported: images/s and model FLOP utilisation (MFU). FLOPs per image = 3 x the analytic forward
FLOPs of the ViT (matrix products and attention only; heads, losses and E_A excluded, which makes
the MFU slightly conservative). Peak: 989 TFLOP/s dense bf16 for H100 and H200 (495 TF32 when
--no-bf16); elsewhere pass --peak-tflops. Where torch.utils.flop_counter exists (PyTorch >= 2.1)
the analytic count is cross-checked against a counted forward pass.

Runs on a CPU too (use a small --batch and --steps); no GPU result is implied by such a run.
Usage: gpu_stage2_reference.py [--device auto|cpu|cuda] [--batch 64] [--steps 30] [--warmup 5]
       [--ids 702] [--cams 8] [--stride 16] [--layers 12] [--no-bf16] [--no-tf32] [--json FILE]
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK_TFLOPS = {  # dense, per GPU: (bf16, tf32)
    "H100": (989.0, 494.7),
    "H200": (989.0, 494.7),
}


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """CLIP's pre-LN transformer block (sequence-first layout, like CLIP)."""

    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, width * 4))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """CLIP ViT image encoder as CLIP-ReID uses it: returns the CLS token of block 11's output
    (f_last), of block 12 after ln_post (f) and of the projection (f_proj)."""

    def __init__(self, height, width_px, patch, stride, width, layers, heads, out_dim, cams,
                 sie_coe):
        super().__init__()
        self.grid = ((height - patch) // stride + 1, (width_px - patch) // stride + 1)
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=stride, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        tokens = 1 + self.grid[0] * self.grid[1]
        self.positional_embedding = nn.Parameter(scale * torch.randn(tokens, width))
        self.cv_embed = nn.Parameter(torch.zeros(cams, width))
        nn.init.trunc_normal_(self.cv_embed, std=0.02)
        self.sie_coe = sie_coe
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))
        proj_std = (width ** -0.5) * ((2 * layers) ** -0.5)
        for block in self.blocks:  # CLIP's initialisation
            nn.init.normal_(block.attn.in_proj_weight, std=width ** -0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

    def forward(self, images, cams):
        x = self.conv1(images).flatten(2).transpose(1, 2)  # [B, h*w, C]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        cls = cls + self.sie_coe * self.cv_embed[cams].unsqueeze(1)  # SIE on the CLS token only
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).transpose(0, 1)  # [L, B, C]
        for block in self.blocks[:-1]:
            x = block(x)
        x11 = x
        x12 = self.ln_post(self.blocks[-1](x11))
        xproj = x12 @ self.proj  # CLIP-ReID projects every token
        return x11[0], x12[0], xproj[0]


class AttributeEncoder(nn.Module):
    """E_A of method.md 2.3: f_proj -> 16 attribute tokens of width 512."""

    def __init__(self, in_dim=512, width=256, tokens=16, layers=4, heads=4, ffn=768):
        super().__init__()
        self.inp = nn.Linear(in_dim, width)
        self.queries = nn.Parameter(0.02 * torch.randn(tokens, width))
        layer = nn.TransformerEncoderLayer(width, heads, ffn, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.out = nn.Linear(width, in_dim)

    def forward(self, f_proj):
        x = self.inp(f_proj).unsqueeze(1) + self.queries.unsqueeze(0)
        return self.out(self.encoder(x))


class Stage2Model(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.visual = VisionTransformer(args.height, args.width, 16, args.stride, 768, args.layers,
                                        12, 512, args.cams, 1.0)
        self.bottleneck = nn.BatchNorm1d(768)
        self.bottleneck_proj = nn.BatchNorm1d(512)
        for bn in (self.bottleneck, self.bottleneck_proj):
            bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(768, args.ids, bias=False)
        self.classifier_proj = nn.Linear(512, args.ids, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.normal_(self.classifier_proj.weight, std=0.001)
        self.attr = AttributeEncoder()

    def forward(self, images, cams):
        f_last, f, f_proj = self.visual(images, cams)
        scores = [self.classifier(self.bottleneck(f)),
                  self.classifier_proj(self.bottleneck_proj(f_proj))]
        return scores, [f_last, f, f_proj], self.attr(f_proj)


def ce_label_smooth(logits, labels, eps=0.1):
    logp = F.log_softmax(logits.float(), dim=1)
    q = torch.full_like(logp, eps / logits.shape[1])
    q.scatter_(1, labels.unsqueeze(1), 1.0 - eps + eps / logits.shape[1])
    return (-q * logp).sum(1).mean()


def batch_hard_triplet(x, labels, margin=0.3):
    x = x.float()
    sq = (x * x).sum(1, keepdim=True)
    dist = (sq + sq.t() - 2.0 * x @ x.t()).clamp(min=1e-12).sqrt()
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    ap = dist.masked_fill(~same, float("-inf")).max(1).values
    an = dist.masked_fill(same, float("inf")).min(1).values
    return F.relu(ap - an + margin).mean()


def otsu_threshold(values, bins=256):
    """Threshold on [-1, 1] maximising the between-class variance w0*w1*(mu0-mu1)^2."""
    hist = torch.histc(values.float(), bins=bins, min=-1.0, max=1.0)
    centers = torch.linspace(-1.0, 1.0, bins + 1, device=values.device)
    centers = 0.5 * (centers[1:] + centers[:-1])
    w0 = hist.cumsum(0)
    s0 = (hist * centers).cumsum(0)
    total, s_total = w0[-1], s0[-1]
    w1 = total - w0
    mu0 = s0 / w0.clamp(min=1)
    mu1 = (s_total - s0) / w1.clamp(min=1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return centers[int(between.argmax())] + 1.0 / bins  # the upper edge of the best bin


def stage2_loss(scores, feats, attr_tokens, labels, text_all, ctx):
    f_proj = feats[2]
    loss_id = sum(ce_label_smooth(s, labels) for s in scores)
    loss_tri = sum(batch_hard_triplet(x, labels) for x in feats)
    loss_i2t = ce_label_smooth(f_proj.float() @ text_all.t(), labels)
    cos = F.cosine_similarity(attr_tokens.float(), ctx[labels], dim=-1)  # [B, r]
    mask = (cos.detach() > otsu_threshold(cos.detach())).float()
    loss_attr = -(mask * cos).mean()  # normalised by the full r, as in the paper
    total = 0.25 * loss_id + loss_tri + loss_i2t + 0.01 * loss_attr
    return total, {"id": float(loss_id), "tri": float(loss_tri), "i2t": float(loss_i2t),
                   "attr": float(loss_attr)}


def make_optimizer(model, lr=5e-6, weight_decay=1e-4, bias_lr_factor=2.0):
    groups = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_bias = name.endswith("bias")
        groups.append({"params": [p], "lr": lr * (bias_lr_factor if is_bias else 1.0),
                       "weight_decay": weight_decay})
    return torch.optim.Adam(groups)


def vit_forward_flops(args):
    """Analytic forward FLOPs of the ViT for one image (2 per multiply-add)."""
    gh = (args.height - 16) // args.stride + 1
    gw = (args.width - 16) // args.stride + 1
    n, c = 1 + gh * gw, 768
    patch = 2 * gh * gw * (3 * 16 * 16) * c
    per_block = 2 * n * c * 3 * c + 2 * 2 * n * n * c + 2 * n * c * c + 2 * 2 * n * c * 4 * c
    proj = 2 * n * c * 512
    return patch + args.layers * per_block + proj


def counted_forward_flops(model, images, cams):
    try:
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.visual(images, cams)
    return counter.get_total_flops() / images.shape[0]


def peak_tflops(args, device):
    if args.peak_tflops:
        return args.peak_tflops, "given"
    if device.type != "cuda":
        return None, "unknown"
    name = torch.cuda.get_device_name(device)
    for key, (bf16, tf32) in PEAK_TFLOPS.items():
        if key in name:
            return (bf16, "bf16 dense") if args.bf16 else (tf32, "tf32 dense")
    return None, "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--batch", type=int, default=64, help="images per step (P x K)")
    parser.add_argument("--k", type=int, default=4, help="images per identity in a batch")
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--ids", type=int, default=702, help="training identities N")
    parser.add_argument("--cams", type=int, default=8)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--stride", type=int, default=16, help="16, or 12 for overlapping patches")
    parser.add_argument("--layers", type=int, default=12, help="ViT blocks (12 = ViT-B/16)")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    parser.add_argument("--no-tf32", dest="tf32", action="store_false")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: default)")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="peak for the MFU")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    if args.batch % args.k or args.batch < 2 * args.k:
        parser.error(f"--batch {args.batch} must be a multiple of --k {args.k} with >= 2 identities")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    if args.batch // args.k > args.ids:
        parser.error(f"--ids {args.ids} is smaller than the {args.batch // args.k} identities a batch needs")

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"gpu_stage2_reference: --device {args.device} but torch {torch.__version__} "
                 "sees no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    use_bf16 = args.bf16 and device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32

    model = Stage2Model(args).to(device).train()
    optimizer = make_optimizer(model)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    images = torch.randn(args.batch, 3, args.height, args.width, generator=gen).to(device)
    pids = torch.randperm(args.ids, generator=gen)[: args.batch // args.k]
    labels = pids.repeat_interleave(args.k).to(device)
    cams = torch.randint(0, args.cams, (args.batch,), generator=gen).to(device)
    text_all = torch.randn(args.ids, 512, generator=gen).to(device)  # fixed T_all
    ctx = (0.02 * torch.randn(args.ids, 16, 512, generator=gen)).to(device)  # frozen prompt tokens

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            scores, feats, attr_tokens = model(images, cams)
        loss, parts = stage2_loss(scores, feats, attr_tokens, labels, text_all, ctx)
        loss.backward()
        optimizer.step()
        return loss

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    losses = []
    for _ in range(args.warmup):
        losses.append(float(step()))
    sync()
    start = time.perf_counter()
    timed = [step() for _ in range(args.steps)]
    sync()
    elapsed = time.perf_counter() - start
    losses += [float(x) for x in timed]
    if not all(math.isfinite(x) for x in losses):
        sys.exit(f"gpu_stage2_reference: non-finite loss {losses}")

    images_per_s = args.batch * args.steps / elapsed
    fwd = vit_forward_flops(args)
    train_flops = 3.0 * fwd
    achieved = train_flops * images_per_s / 1e12
    peak, peak_kind = peak_tflops(args, device)
    counted = counted_forward_flops(model, images, cams)
    device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else platform.processor() or platform.machine())
    result = {
        "device": str(device), "device_name": device_name, "torch": torch.__version__,
        "cuda": torch.version.cuda, "batch": args.batch, "steps": args.steps,
        "warmup": args.warmup, "layers": args.layers, "stride": args.stride,
        "bf16": use_bf16, "tf32": args.tf32 and device.type == "cuda",
        "threads": torch.get_num_threads(), "seconds": elapsed,
        "step_ms": 1e3 * elapsed / args.steps, "images_per_s": images_per_s,
        "vit_forward_gflops_per_image": fwd / 1e9,
        "counted_forward_gflops_per_image": None if counted is None else counted / 1e9,
        "achieved_tflops": achieved, "peak_tflops": peak, "peak_kind": peak_kind,
        "mfu": None if peak is None else achieved / peak,
        "loss_first": losses[0], "loss_last": losses[-1],
        "max_memory_gib": (torch.cuda.max_memory_allocated(device) / 2**30
                           if device.type == "cuda" else None),
    }
    print(f"device {device_name} ({device}), torch {torch.__version__}, bf16 {use_bf16}, "
          f"tf32 {result['tf32']}, threads {result['threads']}")
    print(f"ViT forward {fwd / 1e9:.2f} GFLOP/image (analytic)" +
          ("" if counted is None else f", {counted / 1e9:.2f} counted by torch"))
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} steps")
    mfu = "n/a (unknown peak)" if peak is None else f"{100 * achieved / peak:.1f}% of {peak:g} ({peak_kind})"
    print(f"stage2-reference batch {args.batch} x {args.steps} steps: {images_per_s:.1f} images/s, "
          f"{result['step_ms']:.1f} ms/step, {achieved:.2f} TFLOP/s, MFU {mfu}")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh, indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
