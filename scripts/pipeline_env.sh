# Sourced by scripts/quickstart.sh and scripts/mechanism.sh: installs what is missing, builds the
# agreid binary, finds CLIP's BPE vocabulary (../shared/clip/ next to the checkout, or
# AGREID_CLIP_VOCAB) and sets `agreid`, `vocab` and `ranks` (2 MPI ranks, root allowed).
scripts/install-deps.sh
AGREID_TARGETS=agreid scripts/build.sh

vocab="${AGREID_CLIP_VOCAB:-../shared/clip/bpe_simple_vocab_16e6.txt.gz}"
if [[ ! -f "$vocab" ]]; then
  echo "$(basename "$0"): CLIP's vocabulary bpe_simple_vocab_16e6.txt.gz not found at $vocab;" \
       "set AGREID_CLIP_VOCAB to its path" >&2
  exit 2
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
agreid=build/launch/agreid
ranks=(mpiexec -n 2 --oversubscribe)
