#!/usr/bin/python3
"""Writes one tiny CLIP in every weight layout agreid reads, for tests/trainer/model_weights_test.cc.

Uses Debian's python3-torch only: no transformers, open_clip or safetensors package. The Hugging
Face layout is written from transformers' CLIPModel naming (separate q/k/v projections,
pre_layrnorm, visual_projection [embed, width], ...) and safetensors by hand (8-byte little-endian
header length, JSON header, raw little-endian tensor bytes).

Usage: make_clip_layouts.py OUT_DIR
Model "a" (64-wide towers, 1 head each: width / 64, which state dicts imply) is written as
  a_ts.pt                       TorchScript archive (the reference path, OpenAI names)
  a_state_dict.pt               torch.save(state_dict()), OpenAI/open_clip names
  a_openclip_checkpoint.pt      torch.save({"epoch", "state_dict": {"module.<name>"}, "optimizer"})
  a_openclip.safetensors        OpenAI/open_clip names, F32
  a_legacy.pt                   torch.save in the pre-1.6 format (refused with a clear error)
  a_hf/                         model.safetensors (F32) + config.json
  a_hf_f16/                     model.safetensors (F16) + config.json
  a_hf_bin/                     pytorch_model.bin (torch.save, Hugging Face names) + config.json
Model "b" (2 heads per tower, which only metadata or config.json can say) as
  b_ts.pt                       TorchScript archive with agreid's head-count tensors
  b_hf/                         model.safetensors + config.json (num_attention_heads 2)
and dtypes.safetensors: BF16/F16 tensors next to F32 copies of the same values, I64 and I32.
Weights are rounded to fp16 first, so every layout holds exactly the same values.
"""
import copy
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_clip import CLIP, randomize  # noqa: E402

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.int64: "I64", torch.int32: "I32"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(b"".join(blobs))


def hf_block(sd, src, dst, out):
    for kind in ("weight", "bias"):
        q, k, v = sd[f"{src}attn.in_proj_{kind}"].chunk(3, dim=0)
        out[f"{dst}self_attn.q_proj.{kind}"] = q.clone()
        out[f"{dst}self_attn.k_proj.{kind}"] = k.clone()
        out[f"{dst}self_attn.v_proj.{kind}"] = v.clone()
        out[f"{dst}self_attn.out_proj.{kind}"] = sd[f"{src}attn.out_proj.{kind}"]
        out[f"{dst}layer_norm1.{kind}"] = sd[f"{src}ln_1.{kind}"]
        out[f"{dst}layer_norm2.{kind}"] = sd[f"{src}ln_2.{kind}"]
        out[f"{dst}mlp.fc1.{kind}"] = sd[f"{src}mlp.c_fc.{kind}"]
        out[f"{dst}mlp.fc2.{kind}"] = sd[f"{src}mlp.c_proj.{kind}"]


def to_hf(sd, vision_layers, text_layers):
    """transformers' CLIPModel state dict of an OpenAI-named one."""
    out = {}
    v, t = "vision_model.", "text_model."
    out[v + "embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[v + "embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    pos = sd["visual.positional_embedding"]
    out[v + "embeddings.position_embedding.weight"] = pos
    out[v + "embeddings.position_ids"] = torch.arange(pos.shape[0]).unsqueeze(0)
    out[v + "pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    out[v + "pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    for i in range(vision_layers):
        hf_block(sd, f"visual.transformer.resblocks.{i}.", f"{v}encoder.layers.{i}.", out)
    out[v + "post_layernorm.weight"] = sd["visual.ln_post.weight"]
    out[v + "post_layernorm.bias"] = sd["visual.ln_post.bias"]
    out[t + "embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    pos = sd["positional_embedding"]
    out[t + "embeddings.position_embedding.weight"] = pos
    out[t + "embeddings.position_ids"] = torch.arange(pos.shape[0]).unsqueeze(0)
    for i in range(text_layers):
        hf_block(sd, f"transformer.resblocks.{i}.", f"{t}encoder.layers.{i}.", out)
    out[t + "final_layer_norm.weight"] = sd["ln_final.weight"]
    out[t + "final_layer_norm.bias"] = sd["ln_final.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    out["text_projection.weight"] = sd["text_projection"].t().contiguous()
    out["logit_scale"] = sd["logit_scale"]
    return out


def hf_config(width, layers, heads, image, patch, embed, vocab, context):
    common = {"hidden_size": width, "intermediate_size": 4 * width, "num_attention_heads": heads,
              "num_hidden_layers": layers, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
              "attention_dropout": 0.0, "initializer_factor": 1.0}
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": embed,
            "logit_scale_init_value": 2.6592, "torch_dtype": "float32",
            "vision_config": dict(common, image_size=image, patch_size=patch, num_channels=3),
            "text_config": dict(common, vocab_size=vocab, max_position_embeddings=context,
                                bos_token_id=998, eos_token_id=999)}


def write_hf_folder(folder, tensors, config, kind="safetensors"):
    os.makedirs(folder, exist_ok=True)
    if kind == "safetensors":
        write_safetensors(f"{folder}/model.safetensors", tensors, {"format": "pt"})
    else:
        torch.save(tensors, f"{folder}/pytorch_model.bin")
    with open(f"{folder}/config.json", "w") as f:
        json.dump(config, f, indent=2)


def build(heads, seed):
    torch.manual_seed(seed)
    model = CLIP(embed_dim=32, grid=(4, 4), patch=8, vision_width=64, vision_layers=2,
                 vision_heads=heads, context_length=77, vocab_size=1000, text_width=64,
                 text_layers=2, text_heads=heads)
    randomize(model)
    model.half().float()  # every value exactly representable in fp16
    return model


def save_torchscript(model, path, metadata):
    model = copy.deepcopy(model)
    if metadata:
        model.visual.register_buffer("grid_size", torch.tensor([4, 4]))
        model.visual.transformer.register_buffer("heads", torch.tensor(metadata))
        model.transformer.register_buffer("heads", torch.tensor(metadata))
    images = torch.randn(1, 3, 32, 32)
    ids = torch.zeros(1, 77, dtype=torch.long)
    ids[0, :3] = torch.tensor([998, 320, 999])
    torch.jit.trace(model, (images, ids), check_trace=False).save(path)


def main():
    out = sys.argv[1]
    a = build(heads=1, seed=1)
    save_torchscript(a, f"{out}/a_ts.pt", None)
    sd = {k: v.detach().clone() for k, v in a.state_dict().items()}
    torch.save(a.state_dict(), f"{out}/a_state_dict.pt")
    optimizer = torch.optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    optimizer.zero_grad()
    a.visual.proj.sum().backward()
    optimizer.step()  # momentum buffers: the checkpoint's optimizer state holds tensors too
    torch.save({"epoch": 2, "name": "tiny", "state_dict": {"module." + k: v for k, v in sd.items()},
                "optimizer": optimizer.state_dict()}, f"{out}/a_openclip_checkpoint.pt")
    write_safetensors(f"{out}/a_openclip.safetensors", sd)
    torch.save(sd, f"{out}/a_legacy.pt", _use_new_zipfile_serialization=False)
    hf = to_hf(sd, 2, 2)
    config = hf_config(64, 2, 1, 32, 8, 32, 1000, 77)
    write_hf_folder(f"{out}/a_hf", hf, config)
    f16 = {k: (v.half() if v.is_floating_point() else v) for k, v in hf.items()}
    write_hf_folder(f"{out}/a_hf_f16", f16, dict(config, torch_dtype="float16"))
    write_hf_folder(f"{out}/a_hf_bin", hf, config, kind="bin")

    b = build(heads=2, seed=2)
    save_torchscript(b, f"{out}/b_ts.pt", 2)
    sd_b = {k: v.detach().clone() for k, v in b.state_dict().items()}
    write_hf_folder(f"{out}/b_hf", to_hf(sd_b, 2, 2), hf_config(64, 2, 2, 32, 8, 32, 1000, 77))

    x = torch.randn(3, 5)
    write_safetensors(f"{out}/dtypes.safetensors", {
        "x_bf16": x.bfloat16(), "x_bf16_as_f32": x.bfloat16().float(),
        "x_f16": x.half(), "x_f16_as_f32": x.half().float(),
        "i64": torch.tensor([-3, 0, 2 ** 40]), "i32": torch.tensor([[-7, 9]], dtype=torch.int32),
        "empty": torch.zeros(0, 4)})


if __name__ == "__main__":
    main()
