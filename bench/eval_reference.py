#!/usr/bin/python3
"""Independent NumPy reference of agreid's re-ID evaluation (docs/evaluation.md).

The straightforward formulation of the reference toolkits (CLIP-ReID utils/metrics.py eval_func,
fast-reid evaluation/rank.py): L2-normalise, the full query x gallery squared Euclidean distance
matrix, argsort each row, remove gallery items with the same pid AND camid, cumsum for CMC and AP.
Differences from those toolkits, each to make a comparison to 1e-6 meaningful:
  * float64 distances (they use float32), so the ranking does not depend on BLAS summation order;
  * argsort(kind="stable") (numpy's default quicksort is not stable): ties go to the lower
    gallery index, as in agreid;
  * one row is sorted at a time (fast-reid sorts the whole matrix at once, which needs another
    Q x G int64 array; the order and the results are the same).
Re-ranking follows CLIP-ReID utils/reranking.py line by line with float64 in place of float16.

Usage: eval_reference.py --query Q.h5 --gallery G.h5 [--max-rank 50] [--rerank --k1 50 --k2 15
       --lambda 0.3] [--distances FILE]
Prints one "key value" line per metric (all.mAP, all.rank1, ..., occluded.mAP, ...), then
"time_s <seconds of evaluation, excluding file reading>".
"""
import argparse
import sys
import time

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        feats = np.asarray(f["features"], dtype=np.float32)
        pid = np.asarray(f["pid"], dtype=np.int64)
        camid = np.asarray(f["camid"], dtype=np.int64)
        occluded = np.asarray(f["occluded"], dtype=np.int64) if "occluded" in f else None
    return feats, pid, camid, occluded


def normalize(x):
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def euclidean_squared(a, b):
    """|a|^2 + |b|^2 - 2 a.b, in place (one A x B float64 array at peak)."""
    d = a @ b.T
    d *= -2.0
    d += np.sum(b * b, axis=1)[None, :]
    d += np.sum(a * a, axis=1)[:, None]
    return d


def eval_func(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    """Returns (cmc[max_rank], mAP, mINP, num_valid); NaNs when no query is valid."""
    num_q, _ = distmat.shape
    all_cmc, all_ap, all_inp = [], [], []
    for q_idx in range(num_q):
        order = np.argsort(distmat[q_idx], kind="stable")
        matches = (g_pids[order] == q_pids[q_idx]).astype(np.int32)
        remove = (g_pids[order] == q_pids[q_idx]) & (g_camids[order] == q_camids[q_idx])
        keep = np.invert(remove)
        raw_cmc = matches[keep]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        pos_idx = np.where(raw_cmc == 1)[0]
        pos_max_idx = np.max(pos_idx)
        all_inp.append(cmc[pos_max_idx] / (pos_max_idx + 1.0))
        cmc[cmc > 1] = 1
        cmc = cmc[:max_rank]
        if len(cmc) < max_rank:  # fewer valid gallery items than max_rank: the curve stays at 1
            cmc = np.concatenate([cmc, np.full(max_rank - len(cmc), cmc[-1])])
        all_cmc.append(cmc)
        num_rel = raw_cmc.sum()
        tmp_cmc = raw_cmc.cumsum() / (np.arange(len(raw_cmc)) + 1.0)
        all_ap.append((tmp_cmc * raw_cmc).sum() / num_rel)
    if not all_cmc:
        return np.full(max_rank, np.nan), float("nan"), float("nan"), 0
    all_cmc = np.asarray(all_cmc).astype(np.float64)
    return all_cmc.sum(0) / len(all_cmc), float(np.mean(all_ap)), float(np.mean(all_inp)), len(all_cmc)


def re_ranking(q_feat, g_feat, k1, k2, lambda_value):
    """CLIP-ReID utils/reranking.py on L2-normalised float64 features, float64 throughout."""
    query_num = q_feat.shape[0]
    feat = np.concatenate([q_feat, g_feat])
    all_num = feat.shape[0]
    original_dist = euclidean_squared(feat, feat)
    gallery_num = original_dist.shape[0]
    original_dist = np.transpose(original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(np.float64)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)

    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            candidate_forward_k_neigh_index = initial_rank[candidate, :int(np.around(k1 / 2)) + 1]
            candidate_backward_k_neigh_index = initial_rank[candidate_forward_k_neigh_index,
                                                            :int(np.around(k1 / 2)) + 1]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if len(np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index)) > 2 / 3 * len(
                    candidate_k_reciprocal_index):
                k_reciprocal_expansion_index = np.append(k_reciprocal_expansion_index,
                                                         candidate_k_reciprocal_index)
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = weight / np.sum(weight)
    original_dist = original_dist[:query_num, ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float64)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    invIndex = []
    for i in range(gallery_num):
        invIndex.append(np.where(V[:, i] != 0)[0])
    jaccard_dist = np.zeros_like(original_dist, dtype=np.float64)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, gallery_num], dtype=np.float64)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(
                V[i, indNonZero[j]], V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2 - temp_min)
    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    return final_dist[:query_num, query_num:]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--query", required=True)
    p.add_argument("--gallery", required=True)
    p.add_argument("--max-rank", type=int, default=50)
    p.add_argument("--rerank", action="store_true")
    p.add_argument("--k1", type=int, default=50)
    p.add_argument("--k2", type=int, default=15)
    p.add_argument("--lambda", dest="lam", type=float, default=0.3)
    p.add_argument("--distances", help="also write the (re-ranked) distance matrix as text")
    args = p.parse_args(argv)
    qf, qp, qc, qo = load(args.query)
    gf, gp, gc, _ = load(args.gallery)
    start = time.perf_counter()
    q, g = normalize(qf), normalize(gf)
    if args.rerank:
        distmat = re_ranking(q, g, args.k1, args.k2, args.lam)
    else:
        distmat = euclidean_squared(q, g)
    if args.distances:
        np.savetxt(args.distances, distmat, fmt="%.17g")
    subsets = [("all", np.arange(len(qp)))]
    if qo is not None:
        subsets += [("holistic", np.where(qo == 0)[0]), ("occluded", np.where(qo != 0)[0])]
    lines = []
    for name, rows in subsets:
        if len(rows) == 0:
            continue
        sub = distmat if len(rows) == len(qp) else distmat[rows]  # no copy for all queries
        cmc, m_ap, m_inp, valid = eval_func(sub, qp[rows], gp, qc[rows], gc, args.max_rank)
        lines.append(f"{name}.mAP {m_ap!r}")
        lines.append(f"{name}.mINP {m_inp!r}")
        lines.append(f"{name}.num_valid_query {valid}")
        for k in range(args.max_rank):
            lines.append(f"{name}.cmc{k + 1} {float(cmc[k])!r}")
    elapsed = time.perf_counter() - start
    print("\n".join(lines))
    print(f"time_s {elapsed:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
