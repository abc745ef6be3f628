// Supervised contrastive loss of CLIP-ReID stage 1 (method.md §1.3, loss/supcontrast.py).
//
// Pure function: thread-safe, no communication.
#pragma once

#include <ATen/core/Tensor.h>

namespace agreid::trainer {

struct SupConOptions {
  double temperature = 1.0;
};

// logits = anchors . contrast^T / temperature with the row max (detached) subtracted;
// log_prob = logits - log sum_j exp(logits); per anchor row i the mean of log_prob over the columns
// j with contrast_labels[j] == anchor_labels[i]; loss = -mean over rows. Every anchor needs at
// least one positive column (not checked: reading the labels would make each step wait for the
// device; stage 1 pairs every image with its own label's text). anchors [B, D], contrast [M, D],
// labels [B] and [M]. Stage 1 uses supConLoss(img, txt, y, y) + supConLoss(txt, img, y, y).
at::Tensor supConLoss(const at::Tensor& anchors, const at::Tensor& contrast,
                      const at::Tensor& anchor_labels, const at::Tensor& contrast_labels,
                      const SupConOptions& opts = {});

}  // namespace agreid::trainer
