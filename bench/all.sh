#!/usr/bin/env bash
# Every benchmark with its peer, in one invocation, and one table of ratios headed by the machine's
# description (docs/benchmarks.md, "All benchmarks in one run").
#
# usage: bench/all.sh [--quick | --full] [--build DIR] [--only NAMES] [--skip NAMES]
#                     [--update-doc] [--logs DIR]
#   --quick       small sizes, one round: a smoke check that every benchmark and peer still runs
#                 (a few minutes); its ratios are not the ones to quote.
#   --full        the sizes of docs/benchmarks.md (default). Not yet timed whole on a quiet machine;
#                 from its parts' earlier quiet timings, about 15-20 minutes on the 2-core machine
#                 (the NumPy reference at MSMT17 size alone takes ~5 minutes and 16 GB); pretrain
#                 and extract add about 6 minutes (341 and 375 s in two runs at load 6-9).
#   --only/--skip comma-separated names from: model ddp pretrain extract allreduce loader dataset
#                 memory_bank eval pseudo_label scaling stage1
#   --update-doc  also replaces the generated section of docs/benchmarks.md with the output.
# Needs the benchmarks and `agreid` built in DIR (default build/): scripts/build.sh builds them.
# Each benchmark's full output goes to --logs (default: a temporary folder, kept and printed).
#
# Ratio column: agreid's speed over its peer's (peer time / agreid time, or agreid / peer
# throughput), so > 1 means agreid is faster; for "evaluation vs bare GEMM" it is GEMM time /
# evaluation time, the fraction of the matrix-multiply roofline (target >= 0.6).
set -uo pipefail
cd "$(dirname "$0")/.."
mode=full build=build only="" skip="" update_doc=0 logs=""
while (($#)); do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --build) build="$2"; shift ;;
    --only) only=",$2," ; shift ;;
    --skip) skip=",$2," ; shift ;;
    --update-doc) update_doc=1 ;;
    --logs) logs="$2"; shift ;;
    *) echo "bench/all.sh: unknown option '$1' (see the header of bench/all.sh)" >&2; exit 2 ;;
  esac
  shift
done
for exe in bench/model_bench bench/eval_bench bench/dataset_bench bench/allreduce_bench \
  bench/loader_bench bench/memory_bank_bench bench/ddp_step_bench bench/pretrain_step_bench \
  bench/stage1_scaling_bench bench/stage1_bench \
  launch/agreid; do
  [[ -x "$build/$exe" ]] || { echo "bench/all.sh: $build/$exe missing (scripts/build.sh)" >&2; exit 2; }
done
logs="${logs:-$(mktemp -d /tmp/agreid_bench.XXXXXX)}"
mkdir -p "$logs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cores=$(nproc)
wanted() { [[ ( -z "$only" || "$only" == *",$1,"* ) && "$skip" != *",$1,"* ]]; }
rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 |"); }
# run NAME COMMAND...: runs with its output in $logs/NAME.log; prints progress to stderr.
run() {
  local name="$1" start=$SECONDS
  shift
  echo "bench/all.sh: $name ..." >&2
  "$@" > "$logs/$name.log" 2>&1
  local rc=$?
  echo "bench/all.sh: $name done in $((SECONDS - start)) s (rc $rc)" >&2
  return $rc
}
failed() { row "$1" "failed (rc $2)" "" "" "see $logs/$1.log"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x -E 'fma|avx2|avx512f|avx512_bf16|avx512_vnni|amx_tile' | tr '\n' ' ')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
threads_per_core=$(lscpu 2>/dev/null | awk -F: '/Thread\(s\) per core/ { gsub(/ /, "", $2); print $2 }')
mem_gb=$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
t0=$SECONDS

# mean_rounds LOG: the means of the agreid and peer columns of a twin_rounds table.
mean_rounds() {
  awk -F'|' '$2 ~ /^ *[0-9]+ *$/ { a += $3; p += $4; n++ }
    END { if (n) printf "%.1f %.1f", a / n, p / n }' "$1"
}

# --- model forward+backward: agreid vs PyTorch, alternating rounds ---------------------------
if wanted model; then
  if [[ $mode == quick ]]; then args=(--batch 2 --iters 1 --rounds 1); else args=(--iters 3 --rounds 2); fi
  if run model "$build/bench/model_bench" --threads "$cores" "${args[@]}"; then
    a=$(awk '$1 == "agreid:" { print $10 }' "$logs/model.log")
    p=$(awk '$1 == "pytorch:" { print $10 }' "$logs/model.log")
    row "model fwd+bwd, ViT-B/16, batch $(awk '/^ViT/ { print $8 }' "$logs/model.log" | tr -d ,)" \
      "$a s/step (mean)" "PyTorch $p s/step" "$(ratio "$p" "$a")" "peer / agreid step time"
  else failed model $?; fi
fi

# --- training step: agreid GradientReducer vs PyTorch DDP (gloo), alternating rounds ------------
if wanted ddp; then
  if [[ $mode == quick ]]; then args=(1 -- --steps 3 --warmup 1); else args=(3); fi
  if run ddp bench/ddp_bench.sh "$build" "${args[@]}"; then
    read -r a p < <(mean_rounds "$logs/ddp.log")
    row "training step, 2 ranks (mean of rounds)" "$a ms" "PyTorch DDP $p ms" \
      "$(ratio "$p" "$a")" "peer / agreid step time"
  else failed ddp $?; fi
fi

# --- CLIP pretraining step: agreid vs PyTorch DDP (gloo), same weights and batch ---------------
if wanted pretrain; then
  if [[ $mode == quick ]]; then args=(1 -- --steps 3 --warmup 1); else args=(3); fi
  if run pretrain bench/pretrain_bench.sh "$build" "${args[@]}"; then
    read -r a p < <(mean_rounds "$logs/pretrain.log")
    row "CLIP pretraining step, demo CLIP, 2 ranks, batch 128 (mean of rounds)" "$a ms" \
      "PyTorch DDP $p ms" "$(ratio "$p" "$a")" "peer / agreid step time"
  else failed pretrain $?; fi
fi

# --- feature extraction: agreid extract vs PyTorch inference, same dataset and weights ---------
if wanted extract; then
  if [[ $mode == quick ]]; then args=(1 100); else args=(3 400); fi
  if run extract bench/extract_bench.sh "$build" "${args[@]}"; then
    read -r a p < <(mean_rounds "$logs/extract.log")
    row "feature extraction, $((args[1] * 16)) JPEGs, demo CLIP, batch 64, 1 thread + 1 worker" \
      "$a images/s" "PyTorch inference $p images/s" "$(ratio "$a" "$p")" "agreid / peer throughput"
  else failed extract $?; fi
fi

# --- all-reduce: Communicator vs raw MPI_Allreduce, alternating rounds per size --------------
if wanted allreduce; then
  if [[ $mode == quick ]]; then mib=1; else mib=64; fi
  if run allreduce mpiexec -n 2 --oversubscribe "$build/bench/allreduce_bench" --max-mib "$mib"; then
    read -r lo hi last size < <(awk -F'|' '$3 ~ /^ *[0-9]+ *$/ { r = $6 + 0; s = $2
        if (n == 0 || r < lo) lo = r; if (n == 0 || r > hi) hi = r; last = r; n++ }
      END { gsub(/ /, "", s); printf "%.2f %.2f %.2f %s", lo, hi, last, s }' "$logs/allreduce.log")
    row "all-reduce, 2 ranks, 4 KiB-$size" "Communicator::allReduce" "raw MPI_Allreduce" \
      "$last" "busbw ratio at $size (range $lo-$hi over sizes)"
  else failed allreduce $?; fi
fi

# --- data loader: agreid Loader vs PyTorch DataLoader ----------------------------------------
if wanted loader; then
  if [[ $mode == quick ]]; then export AGREID_BENCH_IDENTITIES=40 AGREID_BENCH_EPOCHS=1; fi
  if run loader bench/loader_bench.sh "$build"; then
    a=$(awk '$1 == "agreid_loader" { print $2 }' "$logs/loader.log")
    p=$(awk '$1 == "pytorch_dataloader" { print $2 }' "$logs/loader.log")
    row "data loader, train transforms, 2 workers" "$a images/s" "PyTorch DataLoader $p images/s" \
      "$(ratio "$a" "$p")" "agreid / peer throughput"
  else failed loader $?; fi
  unset AGREID_BENCH_IDENTITIES AGREID_BENCH_EPOCHS
fi

# --- dataset store: DatasetReader vs h5py on the same file -------------------------------------
if wanted dataset; then
  if [[ $mode == quick ]]; then n=500; else n=20000; fi
  if run dataset "$build/bench/dataset_bench" --images "$n"; then
    for access in sequential_per_image random_per_image runs_of_64; do
      a=$(awk -v k="agreid_$access" '$1 == k { print $2 }' "$logs/dataset.log")
      p=$(awk -v k="h5py_$access" '$1 == k { print $2 }' "$logs/dataset.log")
      row "dataset store, $n JPEGs, ${access//_/ }" "$a images/s" "h5py $p images/s" \
        "$(ratio "$a" "$p")" "agreid / peer throughput"
    done
  else failed dataset $?; fi
fi

# --- contrastive memory bank: sharded vs replicated, 2 ranks ------------------------------------
if wanted memory_bank; then
  if [[ $mode == quick ]]; then args=(--sizes 10000 --steps 3); else args=(--sizes 10000,100000,1000000); fi
  if run memory_bank mpiexec -n 2 --oversubscribe "$build/bench/memory_bank_bench" "${args[@]}"; then
    while read -r n s r; do
      row "memory bank, N = $n, 2 ranks" "sharded $s ms/step" "replicated $r ms/step" \
        "$(ratio "$r" "$s")" "peer / agreid step time"
    done < <(awk '$2 == "sharded" { s[$1] = $5 } $2 == "replicated" { print $1, s[$1], $5 }' \
      "$logs/memory_bank.log")
  else failed memory_bank $?; fi
fi

# --- stage-1 scaling: no peer; per-rank memory and time on synthetic features, 2 ranks ---------
if wanted scaling; then
  if [[ $mode == quick ]]; then args=(--n 100000 --ids 5000 --steps 5); else args=(--n 1000000 --ids 10000 --steps 20); fi
  if run scaling mpiexec -n 2 --oversubscribe "$build/bench/stage1_scaling_bench" "${args[@]}" \
    --dir "$logs/scaling"; then
    line=$(grep -m1 '^W=' "$logs/scaling.log")
    row "stage-1 scaling, ${args[1]} images, ${args[3]} identities, 2 ranks" \
      "$(sed -E 's/.*peak RSS ([0-9]+) MiB after learning.* ([0-9.]+) s\/step.*/\1 MiB RSS\/rank, \2 s\/step/' <<< "$line")" \
      "-" "-" "no peer; cache $(sed -E 's/.*cache ([0-9.]+ MiB: write [0-9.]+ s, read [0-9.]+ s).*/\1/' <<< "$line")"
  else failed scaling $?; fi
fi

# --- evaluation: vs the bare distance GEMM (alternating rounds) and vs NumPy ------------------
if wanted eval; then
  if [[ $mode == quick ]]; then presets=(tiny); rounds=2; else presets=(market msmt); rounds=3; fi
  for preset in "${presets[@]}"; do
    r=$rounds
    [[ $preset == msmt ]] && r=2
    if run "eval_$preset" "$build/bench/eval_bench" all --preset "$preset" --threads "$cores" \
      --rounds "$r" --dir "$logs/eval_$preset"; then
      read -r e g < <(awk -v k="eval-$preset-vs-gemm" '$1 == "RESULT" && $2 == k { print $3, $4 }' \
        "$logs/eval_$preset.log")
      read -r _ n < <(awk -v k="eval-$preset-vs-numpy" '$1 == "RESULT" && $2 == k { print $3, $4 }' \
        "$logs/eval_$preset.log")
      shape=$(awk -F'|' '/^\| .*bare GEMM/ { gsub(/^ +| +$/, "", $3); print $3 }' "$logs/eval_$preset.log")
      row "evaluation, $preset ($shape), $cores threads" "$e s" "bare GEMM $g s" "$(ratio "$g" "$e")" \
        "GEMM / evaluation time (roofline fraction; target >= 0.6)"
      row "evaluation, $preset" "$e s" "NumPy reference $n s" "$(ratio "$n" "$e")" \
        "peer / agreid time; metrics equal to 1e-12"
    else failed "eval_$preset" $?; fi
    rm -rf "$logs/eval_$preset"
  done
fi

# --- stage-1 step: agreid vs the same computation in PyTorch (gloo), alternating rounds ---------
if wanted stage1; then
  if [[ $mode == quick ]]; then args=(1 -- --steps 3 --warmup 1); else args=(3); fi
  if run stage1 bench/stage1_bench.sh "$build" "${args[@]}"; then
    while read -r method a p ac pc; do
      row "stage-1 step, $method, 2 ranks (mean of rounds)" "$a ms (CPU $ac ms)" \
        "PyTorch $p ms (CPU $pc ms)" "$(ratio "$p" "$a")" "peer / agreid step time"
    done < <(awk -F'|' '$2 ~ /^ *[0-9]+ *$/ { m = $3; gsub(/ /, "", m); a[m] += $4; p[m] += $5
        ac[m] += $9; pc[m] += $10; n[m]++ }
      END { for (m in n) printf "%s %.1f %.1f %.1f %.1f\n", m, a[m] / n[m], p[m] / n[m],
        ac[m] / n[m], pc[m] / n[m] }' "$logs/stage1.log" | sort)
  else failed stage1 $?; fi
fi

# --- pseudo-label stage: no peer; only where the quickstart's world exists ----------------------
if wanted pseudo_label; then
  if [[ -f runs/demo/world/reid.h5 && -f runs/demo/clip.pt ]]; then
    if run pseudo_label bench/pseudo_label_bench.sh "$build"; then
      while IFS='|' read -r _ method attempt rate stage wall _; do
        row "pseudo-label stage 1, ${method// /}, ${attempt// /}" "${stage// /} s stage 1" "-" "-" \
          "no peer; feature caching ${rate// /} images/s, wall ${wall// /} s"
      done < <(grep -E '^\| (clip-reid|ag-reid) ' "$logs/pseudo_label.log")
    else failed pseudo_label $?; fi
  else
    row "pseudo-label stage 1" "skipped" "-" "-" "needs runs/demo (scripts/quickstart.sh)"
  fi
fi

out="$logs/table.md"
{
  echo "Generated by \`bench/all.sh --$mode\` on $started (commit $commit), $((SECONDS - t0)) s."
  echo
  echo "Machine: $cpu, $cores cores (${threads_per_core:-?} thread(s) per core), $mem_gb GB;"
  echo "ISA: ${flags% }; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo
  echo "| benchmark | agreid | peer | ratio | ratio is |"
  echo "|---|---|---|---:|---|"
  printf '%s\n' "${rows[@]}"
} > "$out"
cat "$out"
echo "bench/all.sh: logs in $logs" >&2
if ((update_doc)); then
  doc=docs/benchmarks.md
  begin='<!-- bench/all.sh: begin -->' end='<!-- bench/all.sh: end -->'
  grep -qF "$begin" "$doc" || { echo "bench/all.sh: no '$begin' marker in $doc" >&2; exit 1; }
  awk -v b="$begin" -v e="$end" -v f="$out" '
    $0 == b { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
  echo "bench/all.sh: updated $doc" >&2
fi
