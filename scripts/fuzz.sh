#!/usr/bin/env bash
# The long fuzzing run (docs/testing.md, "Fuzz targets"): builds the fuzz targets in build-asan/
# (scripts/sanitize.sh build), then runs each for RUNS executions (default 1000000) from its seed
# corpus, one after the other, and prints one line per target. Findings are kept in
# build-asan/tests/fuzz/findings.
# Usage: scripts/fuzz.sh [RUNS] [TARGET...]   (targets: config sweep tokenizer csv dataset
# features weights; default all)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-1000000}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(config sweep tokenizer csv dataset features weights)
fuzzers=()
for t in "${targets[@]}"; do fuzzers+=("fuzz_$t"); done
AGREID_TARGETS="make_fuzz_seeds ${fuzzers[*]}" scripts/sanitize.sh build >/dev/null
# The deep dataset seed (Note [Dataset seed size] in tests/fuzz/make_seeds.cc).
(cd build-asan && AGREID_FUZZ_SMALL_DATASET_SEED=1 ctest -R '^fuzz_seeds$' >/dev/null)
export AGREID_CLIP_VOCAB="${AGREID_CLIP_VOCAB:-$PWD/../shared/clip/bpe_simple_vocab_16e6.txt.gz}"
status=0
for t in "${targets[@]}"; do
  # The seed folders are the ones the CTest entry uses.
  # CTest quotes each argument ("…/findings" "…/seeds/dataset"); a run without its seeds would
  # start from nothing and stay shallow.
  seeds=$(cd build-asan && ctest -R "^fuzz_$t\$" -N -V | sed -n 's/.*findings"\{0,1\} //p' |
    head -1 | tr -d '"')
  if [[ -z $seeds ]]; then
    echo "fuzz: no seed folders found for fuzz_$t (ctest -N -V)" >&2
    exit 2
  fi
  start=$SECONDS
  set +e
  out=$(eval tests/fuzz/run_fuzz.sh "build-asan/tests/fuzz/fuzz_$t" "$runs" \
    build-asan/tests/fuzz/findings $seeds 2>&1)
  rc=$?
  set -e
  done_line=$(grep -E '^Done [0-9]+ runs' <<<"$out" | tail -1)
  cov=$(grep -E 'cov: [0-9]+' -o <<<"$out" | tail -1)
  printf 'fuzz_%-10s rc=%d  %s  %s  (%ds)\n' "$t" "$rc" "${done_line:-no summary}" "$cov" \
    $((SECONDS - start))
  if ((rc != 0)); then
    status=1
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' <<<"$out" | head -20
  fi
done
exit "$status"
