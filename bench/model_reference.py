#!/usr/bin/python3
"""PyTorch peer of bench/model_bench.cc: forward+backward of CLIP-ReID's ViT-B/16 re-ID model.

The architecture is OpenAI CLIP's VisionTransformer as CLIP-ReID uses it (model/clip/model.py:
nn.MultiheadAttention, QuickGELU, sequence-first; conv stride, SIE on the class token, x11/x12/
proj class tokens) plus its BNNecks (bias frozen) and bias-free classifiers
(model/make_model_clipreid.py), randomly initialised. Same loss as the C++ side.

Usage: model_reference.py --iters N --batch B --threads T [--height H --width W --stride S]
Prints one line: "min_s X mean_s Y cpu_s Z" -- the fastest and mean wall time of one step and
the mean process CPU time of one step, over the timed iterations (after one warm-up step).
"""
import argparse
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        orig = x.dtype
        return super().forward(x.type(torch.float32)).type(orig)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(d_model, d_model * 4)),
                                              ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(d_model * 4, d_model))]))
        self.ln_2 = LayerNorm(d_model)

    def forward(self, x, attn_mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    def __init__(self, h, w, patch, stride, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=stride, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(h * w + 1, width))
        self.ln_pre = LayerNorm(width)
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads)
                                        for _ in range(layers)])
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x, cv_emb):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([self.class_embedding.to(x.dtype) +
                       torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype), x], dim=1)
        x[:, 0] = x[:, 0] + cv_emb
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x11 = x
        for i, blk in enumerate(self.resblocks):
            x = blk(x)
            if i == len(self.resblocks) - 2:
                x11 = x
        x12 = self.ln_post(x.permute(1, 0, 2))
        return x11.permute(1, 0, 2)[:, 0], x12[:, 0], (x12 @ self.proj)[:, 0]


class ReidModel(nn.Module):
    def __init__(self, num_classes, num_cams, h, w, stride):
        super().__init__()
        gh, gw = (h - 16) // stride + 1, (w - 16) // stride + 1
        self.image_encoder = VisionTransformer(gh, gw, 16, stride, 768, 12, 12, 512)
        self.cv_embed = nn.Parameter(torch.zeros(num_cams, 768))
        nn.init.trunc_normal_(self.cv_embed, std=0.02)
        self.bottleneck = nn.BatchNorm1d(768)
        self.bottleneck.bias.requires_grad_(False)
        self.bottleneck_proj = nn.BatchNorm1d(512)
        self.bottleneck_proj.bias.requires_grad_(False)
        self.classifier = nn.Linear(768, num_classes, bias=False)
        self.classifier_proj = nn.Linear(512, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.normal_(self.classifier_proj.weight, std=0.001)

    def forward(self, x, cams):
        f_last, f, f_proj = self.image_encoder(x, self.cv_embed[cams])
        score = self.classifier(self.bottleneck(f))
        score_proj = self.classifier_proj(self.bottleneck_proj(f_proj))
        return f_last, f, f_proj, score, score_proj


def loss_of(out, labels):
    f_last, f, f_proj, score, score_proj = out
    return (F.cross_entropy(score, labels) + F.cross_entropy(score_proj, labels) +
            f_last.square().mean() + f.square().mean() + f_proj.square().mean())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--stride", type=int, default=16)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = ReidModel(751, 6, a.height, a.width, a.stride).train()
    images = torch.randn(a.batch, 3, a.height, a.width)
    cams = torch.arange(a.batch) % 6
    labels = torch.arange(a.batch) % 751
    params = [q for q in model.parameters() if q.requires_grad]

    def step():
        for q in params:
            q.grad = None
        loss_of(model(images, cams), labels).backward()

    step()  # warm-up
    walls = []
    cpu0 = time.process_time()
    for _ in range(a.iters):
        start = time.perf_counter()
        step()
        walls.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu0) / a.iters
    print(f"min_s {min(walls):.4f} mean_s {sum(walls) / len(walls):.4f} cpu_s {cpu:.4f}")


if __name__ == "__main__":
    main()
