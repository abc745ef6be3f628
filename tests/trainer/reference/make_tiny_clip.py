#!/usr/bin/python3
"""Builds tiny CLIP models with random weights and dumps reference outputs for the C++ towers.

Written from the published CLIP architecture (OpenAI CLIP model.py: pre-LN residual attention
blocks with nn.MultiheadAttention and QuickGELU, sequence-first layout) and CLIP-ReID's re-ID
vision tower (patch stride, resized positional grid, SIE on the class token) -- no CLIP package
is imported. Parameter names are OpenAI's state-dict names.

Usage: make_tiny_clip.py OUT_DIR
Writes OUT_DIR/tiny_rect.pt (fp32, 64x32 input, 2 heads of 32: agreid metadata tensors),
OUT_DIR/tiny_square_fp16.pt (fp16, 32x32 input, OpenAI layout with 64-wide heads and the
input_resolution/context_length/vocab_size tensors) and OUT_DIR/reference.pt (a TorchScript module
whose buffers are the inputs and outputs, named <model>_<what>).
"""
import copy
import math
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, width * 4)),
                                              ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(width * 4, width))]))
        self.ln_2 = nn.LayerNorm(width)
        self.attn_mask = attn_mask

    def forward(self, x):  # x [N, B, W]
        mask = self.attn_mask
        if mask is not None:
            mask = mask[:x.shape[0], :x.shape[0]]
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x):
        """Returns (x after layers-1 blocks, x after all blocks), as CLIP-ReID's encoder."""
        penultimate = x
        for i, block in enumerate(self.resblocks):
            x = block(x)
            if i == len(self.resblocks) - 2:
                penultimate = x
        return penultimate, x


class VisionTransformer(nn.Module):
    def __init__(self, grid, patch, width, layers, heads, output_dim):
        super().__init__()
        self.patch = patch
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid[0] * grid[1] + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x, stride=None, pos=None, cv_emb=None):
        """CLIP-ReID's forward: returns the class token of x11, ln_post(x12) and the projection."""
        stride = stride or self.patch
        pos = self.positional_embedding if pos is None else pos
        x = F.conv2d(x, self.conv1.weight, stride=stride)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1)
        if cv_emb is not None:
            x[:, 0] = x[:, 0] + cv_emb
        x = x + pos
        x = self.ln_pre(x)
        x11, x12 = self.transformer(x.permute(1, 0, 2))
        x11, x12 = x11.permute(1, 0, 2), x12.permute(1, 0, 2)
        x12 = self.ln_post(x12)
        return x11[:, 0], x12[:, 0], (x12 @ self.proj)[:, 0]


class CLIP(nn.Module):
    def __init__(self, embed_dim, grid, patch, vision_width, vision_layers, vision_heads,
                 context_length, vocab_size, text_width, text_layers, text_heads):
        super().__init__()
        self.visual = VisionTransformer(grid, patch, vision_width, vision_layers, vision_heads,
                                        embed_dim)
        mask = torch.empty(context_length, context_length).fill_(float("-inf")).triu_(1)
        self.transformer = Transformer(text_width, text_layers, text_heads, mask)
        self.token_embedding = nn.Embedding(vocab_size, text_width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(context_length, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(text_width ** -0.5 * torch.randn(text_width,
                                                                             embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        _, x = self.transformer(x.permute(1, 0, 2))
        x = self.ln_final(x.permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        return self.visual(image)[2], self.encode_text(text)


def randomize(model):
    """Every tensor random, LayerNorm weights near 1, so a misplaced tensor changes the output."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or \
                    "ln_" in name and name.endswith(".weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn_like(p))
            elif name != "logit_scale":
                p.copy_(torch.randn_like(p) * p.shape[-1] ** -0.5)


def resize_pos_embed(posemb, grid_old, grid_new):
    """CLIP-ReID's resize_pos_embed with a non-square source grid."""
    token, grid = posemb[:1], posemb[1:]
    grid = grid.reshape(1, grid_old[0], grid_old[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=grid_new, mode="bilinear")
    grid = grid.permute(0, 2, 3, 1).reshape(grid_new[0] * grid_new[1], -1)
    return torch.cat([token, grid], dim=0)


class Holder(nn.Module):
    def __init__(self, tensors):
        super().__init__()
        for k, v in tensors.items():
            self.register_buffer(k, v.detach().contiguous())

    def forward(self) -> int:
        return 0


def ids_batch(context):
    ids = torch.zeros(3, context, dtype=torch.long)
    ids[0, :8] = torch.tensor([49406, 320, 1125, 539, 320, 2533, 269, 49407])
    ids[1, 0] = 49406
    ids[1, 1:20] = torch.randint(1, 49405, (19,))
    ids[1, 20] = 49407
    ids[2, 0] = 49406
    ids[2, 1:context - 1] = torch.randint(1, 49405, (context - 2,))
    ids[2, context - 1] = 49407
    return ids


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    refs = {}

    # fp32, non-square grid 8x4 (64x32 input, patch 8), 2 heads of width 32.
    rect = CLIP(embed_dim=48, grid=(8, 4), patch=8, vision_width=64, vision_layers=3,
                vision_heads=2, context_length=77, vocab_size=49408, text_width=64,
                text_layers=2, text_heads=2)
    randomize(rect)
    rect.visual.register_buffer("grid_size", torch.tensor([8, 4]))
    rect.visual.transformer.register_buffer("heads", torch.tensor(2))
    rect.transformer.register_buffer("heads", torch.tensor(2))
    images = torch.randn(2, 3, 64, 32)
    ids = ids_batch(77)
    traced = torch.jit.trace(rect, (images, ids), check_trace=False)
    traced.save(f"{out}/tiny_rect.pt")
    with torch.no_grad():
        f_last, f, f_proj = rect.visual(images)
        refs.update(rect_images=images, rect_ids=ids, rect_f_last=f_last, rect_f=f,
                    rect_f_proj=f_proj, rect_text=rect.encode_text(ids))
        # Re-ID mode: 70x36 input, stride 4 (overlapping patches): grid 16x8; SIE on 3 cameras.
        reid_images = torch.randn(2, 3, 70, 36)
        grid_new = ((70 - 8) // 4 + 1, (36 - 8) // 4 + 1)
        pos = resize_pos_embed(rect.visual.positional_embedding, (8, 4), grid_new)
        cv_embed = 0.5 * torch.randn(3, 64)
        cams = torch.tensor([2, 0])
        sie_coe = 1.5
        r_last, r_f, r_proj = rect.visual(reid_images, stride=4, pos=pos,
                                          cv_emb=sie_coe * cv_embed[cams])
        refs.update(reid_images=reid_images, reid_cams=cams, reid_cv_embed=cv_embed,
                    reid_pos=pos, reid_f_last=r_last, reid_f=r_f, reid_f_proj=r_proj,
                    reid_sie_coe=torch.tensor(sie_coe), reid_grid=torch.tensor(grid_new))

    # fp16 OpenAI layout: square 4x4 grid (32x32 input), 64-wide heads, extra scalar tensors.
    sq = CLIP(embed_dim=32, grid=(4, 4), patch=8, vision_width=64, vision_layers=2,
              vision_heads=1, context_length=77, vocab_size=49408, text_width=64, text_layers=2,
              text_heads=1)
    randomize(sq)
    sq.register_buffer("input_resolution", torch.tensor(32))
    sq.register_buffer("context_length", torch.tensor(77))
    sq.register_buffer("vocab_size", torch.tensor(49408))
    images = torch.randn(2, 3, 32, 32)
    sq.half().float()  # weights exactly representable in fp16, so fp32 outputs are the reference
    # Traced in fp32 (CPU fp16 kernels are incomplete), then stored as fp16 like OpenAI's archives.
    traced = torch.jit.trace(copy.deepcopy(sq), (images, ids), check_trace=False).half()
    traced.save(f"{out}/tiny_square_fp16.pt")
    with torch.no_grad():
        f_last, f, f_proj = sq.visual(images)
        refs.update(square_images=images, square_ids=ids, square_f_last=f_last, square_f=f,
                    square_f_proj=f_proj, square_text=sq.encode_text(ids))

    torch.jit.script(Holder(refs)).save(f"{out}/reference.pt")


if __name__ == "__main__":
    main()
