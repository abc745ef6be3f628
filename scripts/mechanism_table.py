#!/usr/bin/env python3
"""Table of scripts/mechanism.sh: per arm, mean +- sd over seeds of mAP / Rank-1 on holistic and
occluded queries, the pseudo-label attribute readout, the token-block probe's diagonal, and the
fraction of tokens the guidance mask kept on holistic and occluded training images, the mask's
precision and recall against true visibility, and the linear attribute probe on the test features
(attribute_probe.json: accuracy where the attribute's region is visible and where it is hidden);
then the seed-paired differences that answer the experiment's questions.

Usage: mechanism_table.py OUT_DIR "ARMS" "SEEDS"
"""
import json
import math
import os
import sys

out, arms, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()


def load(arm, seed):
    d = os.path.join(out, "arms", f"{arm}-s{seed}")
    path = os.path.join(d, "results.json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))
    m = {
        "hol_mAP": 100 * r["subsets"]["holistic"]["mAP"],
        "hol_R1": 100 * r["subsets"]["holistic"]["rank1"],
        "occ_mAP": 100 * r["subsets"]["occluded"]["mAP"],
        "occ_R1": 100 * r["subsets"]["occluded"]["rank1"],
    }
    pl = os.path.join(d, "pseudo_label.json")
    if os.path.exists(pl):
        p = json.load(open(pl))
        if p.get("readout_accuracy", -1) >= 0:
            m["readout"] = 100 * p["readout_accuracy"]
        if p.get("probe_attributes", 0) > 0:
            m["probe_diag"] = p["probe_own_block_best"]
    ap = os.path.join(d, "attribute_probe.json")
    if os.path.exists(ap):
        p = json.load(open(ap))
        for kind in ("visible", "hidden"):
            if kind in p:
                m[f"probe_{kind[:3]}"] = 100 * p[kind]["accuracy"]
    kept = {"occluded": [0.0, 0.0], "holistic": [0.0, 0.0]}
    visible = [0.0, 0.0]  # kept visible tokens, visible tokens (datasets with visibility)
    mj = os.path.join(d, "metrics.jsonl")
    if os.path.exists(mj):
        for line in open(mj):
            rec = json.loads(line)
            terms = rec.get("terms", {})
            if "mask_kept_occluded" not in terms:  # stage-2 records only
                continue
            for kind in kept:
                kept[kind][0] += terms[f"mask_kept_{kind}"]
                kept[kind][1] += terms[f"mask_tokens_{kind}"]
            if "mask_kept_visible" in terms:
                visible[0] += terms["mask_kept_visible"]
                visible[1] += terms["mask_tokens_visible"]
    for kind, (k, n) in kept.items():
        if n > 0:
            m[f"kept_{kind[:3]}"] = 100 * k / n
    kept_all = kept["occluded"][0] + kept["holistic"][0]
    if visible[1] > 0 and kept_all > 0:  # the mask against true visibility
        m["mask_precision"] = 100 * visible[0] / kept_all
        m["mask_recall"] = 100 * visible[0] / visible[1]
    return m


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    if len(values) < 2:
        return f"{mean:.1f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.1f} ± {sd:.1f}"


runs = {a: {s: load(a, s) for s in seeds} for a in arms}
cols = [("hol_mAP", "mAP hol."), ("hol_R1", "R1 hol."), ("occ_mAP", "mAP occ."),
        ("occ_R1", "R1 occ."), ("readout", "readout %"), ("probe_diag", "probe diag."),
        ("kept_hol", "kept hol. %"), ("kept_occ", "kept occ. %"),
        ("mask_precision", "mask prec. %"), ("mask_recall", "mask rec. %"),
        ("probe_vis", "probe vis. %"), ("probe_hid", "probe hid. %")]
print("| arm | seeds | " + " | ".join(t for _, t in cols) + " |")
print("|---|---:|" + "---:|" * len(cols))
for a in arms:
    done = [m for m in runs[a].values() if m]
    print(f"| {a} | {len(done)} | " +
          " | ".join(stats([m.get(k) for m in done]) for k, _ in cols) + " |")

pairs = [("E", "F", "oracle vs permuted control (does the mechanism work with right labels?)"),
         ("E", "E0", "guidance with oracle labels vs the oracle prompt alone"),
         ("E0", "A", "oracle prompt alone vs CLIP-ReID"), ("E", "A", "oracle vs CLIP-ReID"), ("C", "A", "literal learned vs CLIP-ReID"),
         ("C0", "A", "default learned vs CLIP-ReID"), ("E", "C0", "oracle vs learned labels"), ("D", "C", "Otsu mask vs none"),
         ("C", "CB", "literal guidance vs none (learned labels, literal stage 1)"),
         ("CB", "B", "literal stage 1 (V trained jointly) vs stop-gradient, no guidance"), ("G", "E", "E_A frozen vs fine-tuned"),
         ("H", "E", "oracle mask vs none (oracle labels)"), ("HO", "E", "Otsu mask vs none (oracle labels)"),
         ("H", "HO", "oracle mask vs Otsu (oracle labels)"),
         ("P", "A", "CLIP-ReID prompt + literal guidance (Table 4 \"+AP only\") vs CLIP-ReID"),
         ("P0", "A", "the same at the default reading vs CLIP-ReID"),
         ("C", "P", "attribute prompt vs CLIP-ReID prompt, both with literal guidance")]
print()
print("Seed-paired differences (first minus second; mean ± sd over seeds):")
print()
print("| comparison | seeds | mAP hol. | mAP occ. | R1 occ. | probe hid. |")
print("|---|---:|---:|---:|---:|---:|")
for x, y, what in pairs:
    if x not in runs or y not in runs:
        continue
    common = [s for s in seeds if runs[x][s] and runs[y][s]]
    if not common:
        continue
    def diff(k):
        return stats([runs[x][s][k] - runs[y][s][k] for s in common
                      if k in runs[x][s] and k in runs[y][s]])
    print(f"| {x} − {y}: {what} | {len(common)} | {diff('hol_mAP')} | {diff('occ_mAP')} | "
          f"{diff('occ_R1')} | {diff('probe_hid')} |")
