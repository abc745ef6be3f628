"""Independent reference for agreid's training losses (tests/trainer/losses_test.cc).

Reads the inputs the C++ test dumped (torch.load of a torch::pickle_save'd dict of tensors) and
writes every loss and its input gradients, computed the way the reference toolkits do (CLIP-ReID's
loss/softmax_loss.py, loss/triplet_loss.py, loss/supcontrast.py; skimage's threshold_otsu;
OpenCLIP's ClipLoss), to the output file for the test to compare.

usage: /usr/bin/python3 losses_ref.py INPUTS.pt OUTPUTS.pt
"""
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F


def ce_label_smooth(inputs, targets, epsilon):
    # CLIP-ReID CrossEntropyLabelSmooth
    num_classes = inputs.size(1)
    log_probs = torch.log_softmax(inputs, dim=1)
    onehot = torch.zeros_like(log_probs).scatter_(1, targets.unsqueeze(1), 1)
    q = (1 - epsilon) * onehot + epsilon / num_classes
    return (-q * log_probs).mean(0).sum()


def euclidean_dist(x, y):
    m, n = x.size(0), y.size(0)
    xx = torch.pow(x, 2).sum(1, keepdim=True).expand(m, n)
    yy = torch.pow(y, 2).sum(1, keepdim=True).expand(n, m).t()
    dist = xx + yy - 2 * x @ y.t()
    return dist.clamp(min=1e-12).sqrt()


def triplet(feat, labels, margin):
    # CLIP-ReID TripletLoss(margin) with hard_example_mining on a P x K batch
    dist_mat = euclidean_dist(feat, feat)
    n = dist_mat.size(0)
    is_pos = labels.expand(n, n).eq(labels.expand(n, n).t())
    is_neg = labels.expand(n, n).ne(labels.expand(n, n).t())
    dist_ap, _ = torch.max(dist_mat[is_pos].contiguous().view(n, -1), 1)
    dist_an, _ = torch.min(dist_mat[is_neg].contiguous().view(n, -1), 1)
    y = torch.ones_like(dist_an)
    return torch.nn.MarginRankingLoss(margin=margin)(dist_an, dist_ap, y)


def supcon(text_features, image_features, t_label, i_targets, temperature=1.0):
    # CLIP-ReID SupConLoss.forward
    batch_size = text_features.shape[0]
    batch_size_n = image_features.shape[0]
    mask = torch.eq(t_label.unsqueeze(1).expand(batch_size, batch_size_n),
                    i_targets.unsqueeze(0).expand(batch_size, batch_size_n)).to(text_features.dtype)
    anchor_dot_contrast = torch.div(torch.matmul(text_features, image_features.T), temperature)
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    exp_logits = torch.exp(logits)
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    return -mean_log_prob_pos.mean()


def cosine(a, b):
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))


def otsu(values):
    # skimage.filters.threshold_otsu on a fixed 256-bin histogram over [-1, 1]
    hist, edges = np.histogram(values.astype(np.float64), bins=256, range=(-1.0, 1.0))
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2.0
    weight1 = np.cumsum(hist)
    weight2 = np.cumsum(hist[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean1 = np.cumsum(hist * centers) / weight1
        mean2 = (np.cumsum((hist * centers)[::-1]) / weight2[::-1])[::-1]
        variance12 = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    variance12 = np.nan_to_num(variance12, nan=0.0)
    return float(centers[int(np.argmax(variance12))])


def clip_loss(image, text, log_scale):
    # OpenCLIP ClipLoss on the whole (global) batch, features L2-normalised first
    image = F.normalize(image, dim=-1)
    text = F.normalize(text, dim=-1)
    scale = log_scale.exp().clamp(max=100.0)
    logits_per_image = scale * image @ text.T
    logits_per_text = scale * text @ image.T
    labels = torch.arange(image.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def main():
    inputs = torch.load(sys.argv[1])
    x = {k: (v.clone().requires_grad_(v.is_floating_point())) for k, v in inputs.items()}
    out = {}

    def record(name, loss, wrt):
        grads = torch.autograd.grad(loss, [x[w] for w in wrt], allow_unused=True)
        out[name + "/value"] = loss.detach().reshape(1)
        for w, g in zip(wrt, grads):
            out[name + "/grad_" + w] = torch.zeros_like(x[w]) if g is None else g

    eps = float(inputs["epsilon"].item())
    margin = float(inputs["margin"].item())
    labels = inputs["labels"]
    record("ce", ce_label_smooth(x["logits"], labels, eps), ["logits"])
    record("ce0", F.cross_entropy(x["logits"], labels), ["logits"])
    record("triplet", triplet(x["features"], labels, margin), ["features"])
    record("i2t", ce_label_smooth(x["features"] @ x["text"].T, labels, eps), ["features", "text"])
    record("supcon", supcon(x["features"], x["text_rows"], labels, labels)
           + supcon(x["text_rows"], x["features"], labels, labels), ["features", "text_rows"])
    a, v = x["attr_pred"], x["attr_target"]
    record("attr_align", -cosine(a, v.detach()).mean(), ["attr_pred", "attr_target"])
    cos = cosine(a, v)
    gamma = otsu(cos.detach().numpy().ravel())
    out["otsu/gamma"] = torch.tensor([gamma], dtype=torch.float64)
    mask = (cos.detach() > gamma).to(cos.dtype)
    record("attr_guide", -(mask * cos).mean(), ["attr_pred", "attr_target"])
    cos = cosine(a, v)
    mask_none = (cos.detach() > -1.0).to(cos.dtype)
    record("attr_guide_none", -(mask_none * cos).mean(), ["attr_pred", "attr_target"])
    record("clip", clip_loss(x["clip_image"], x["clip_text"], x["log_scale"]),
           ["clip_image", "clip_text", "log_scale"])
    torch.save(out, sys.argv[2])


if __name__ == "__main__":
    main()
