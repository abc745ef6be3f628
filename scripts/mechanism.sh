#!/usr/bin/env bash
# The mechanism experiment of AG-ReID (docs/results.md): on one synthetic world and one pretrained
# CLIP (configs/mechanism.toml), train the arms below on paired seeds and print one table
# (mean +- sd over seeds; differences paired by seed).
#
#   A  CLIP-ReID baseline
#   B  attribute prompt, no guidance (beta = 0)
#   C  learned pseudo-labels, guidance without mask, the paper's literal equations
#      (sums over images, V trained jointly: stage1.joint)
#   CB as C without guidance (beta = 0): what the literal stage 1 (V trained jointly) does alone
#   C0 as C at the default reading (means over images, stop-gradient on V, beta 0.01)
#   D  as C with the Otsu mask
#   E  ORACLE pseudo-labels: each identity's tokens are the word embeddings of its true
#      attribute words (frozen); guidance as C
#   E0 as E without guidance (beta = 0): what the oracle prompt alone does through i2t
#   F  CONTROL: E's tokens permuted across identities (same token sets, no attribute link)
#   G  as E with E_A frozen in stage 2
#   H  as E with the ORACLE mask: each token kept where its attribute's body region is visible
#      (the world's /attributes/visibility)
#   HO as E with the Otsu mask (H vs HO vs E: does a mask help when it tracks visibility?)
#   P  Table 4's "+AP only": CLIP-ReID's prompt (4 learned tokens per identity) with E_A and
#      guidance as C (the literal equations, as the paper configs; no mask)
#   P0 as P at the default reading (means, stop-gradient, beta 0.01), as C0
#
# Usage: scripts/mechanism.sh [SEED...]   (default seeds: 1 2 3)
#   AGREID_ARMS="A E F" runs a subset; AGREID_CLIP_VOCAB as scripts/quickstart.sh;
#   AGREID_MECHANISM_CONFIG=configs/mechanism_whole.toml runs the experiment with the second CLIP
#   (default configs/mechanism.toml; configs/mechanism_long.toml: S pretrained 4x as long);
#   each config has its own folder (its run.out_dir).
# Finished runs are reused (a run folder holding results.json is not trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pipeline_env.sh
config=${AGREID_MECHANISM_CONFIG:-configs/mechanism.toml}
# The experiment's folder is the config's run.out_dir (world, CLIP, arms, table).
out=$(sed -n 's/^out_dir = "\(.*\)"/\1/p' "$config" | head -1)
[[ -n $out ]] || { echo "mechanism: $config sets no run.out_dir" >&2; exit 2; }
seeds=("$@")
[[ ${#seeds[@]} -eq 0 ]] && seeds=(1 2 3)
arms=(${AGREID_ARMS:-A B C0 C CB D E E0 F G H HO P P0})
mkdir -p "$out/arms"
log="$out/mechanism.log"

literal=(--set stage1.attr_reduction=sum --set stage1.joint=true --set stage2.attr_reduction=sum)
oracle=(--set stage2.attr_reduction=sum --set stage2.mask=none)
# Sets arm_args to the settings of arm $1.
set_arm_args() {
  case "$1" in
    A) arm_args=(--set stage2.method=clip-reid) ;;
    B) arm_args=(--set stage2.beta=0) ;;
    C) arm_args=("${literal[@]}" --set stage2.mask=none) ;;
    C0) arm_args=(--set stage2.mask=none) ;;
    CB) arm_args=("${literal[@]}" --set stage2.beta=0) ;;
    D) arm_args=("${literal[@]}" --set stage2.mask=otsu) ;;
    E) arm_args=(--set stage1.pseudo_labels=oracle "${oracle[@]}") ;;
    E0) arm_args=(--set stage1.pseudo_labels=oracle --set stage2.beta=0) ;;
    F) arm_args=(--set stage1.pseudo_labels=permuted "${oracle[@]}") ;;
    G) arm_args=(--set stage1.pseudo_labels=oracle "${oracle[@]}"
      --set stage2.encoder_lr_factor=0) ;;
    H) arm_args=(--set stage1.pseudo_labels=oracle "${oracle[@]}" --set stage2.mask=oracle) ;;
    HO) arm_args=(--set stage1.pseudo_labels=oracle "${oracle[@]}" --set stage2.mask=otsu) ;;
    P) arm_args=("${literal[@]}" --set "stage1.template=A photo of a X X X X person."
      --set 'stage1.token_attributes=["","","",""]' --set stage2.mask=none) ;;
    P0) arm_args=(--set "stage1.template=A photo of a X X X X person."
      --set 'stage1.token_attributes=["","","",""]' --set stage2.mask=none) ;;
    *) echo "mechanism: unknown arm $1" >&2; return 2 ;;
  esac
}

if [[ ! -f "$out/world/reid.h5" ]]; then
  "$agreid" synth --config "$config" --out "$out/world" | tee -a "$log"
fi
if [[ ! -f "$out/clip.pt" ]]; then
  echo "== pretraining the experiment's CLIP (zero-shot report on held-out people follows)"
  "${ranks[@]}" "$agreid" pretrain --config "$config" --set "model.vocab=$vocab" | tee -a "$log"
fi
for seed in "${seeds[@]}"; do
  for arm in "${arms[@]}"; do
    dir="$out/arms/$arm-s$seed"
    [[ -f "$dir/results.json" ]] && continue
    echo "== arm $arm, seed $seed"
    set_arm_args "$arm"
    "${ranks[@]}" "$agreid" run --config "$config" --set "model.vocab=$vocab" \
      --set "run.seed=$seed" --set "run.out_dir=$dir" "${arm_args[@]}" >>"$log" 2>&1
  done
done
python3 scripts/mechanism_table.py "$out" "${arms[*]}" "${seeds[*]}" | tee "$out/mechanism.md"
