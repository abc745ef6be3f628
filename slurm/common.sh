# shellcheck shell=bash
# Shared by the agreid sbatch scripts (sourced, not run). Finds the agreid binary, launches one
# job step with srun --mpi=pmix (or mpirun), forwards SLURM's pre-emption warning to it, requeues
# the job when agreid stopped after a checkpoint (exit code 75), and fails a step that exited with
# 0 without writing its result, after launching it once more (a launch failure must not pass for
# success). See docs/slurm.md.
#
# Environment read here:
#   AGREID_BIN       the agreid executable (default: `agreid` on PATH, else
#                    $AGREID_ROOT/build/launch/agreid)
#   AGREID_LAUNCHER  srun (default: srun --mpi=pmix, one task per rank) or mpirun (Open MPI's
#                    mpirun inside the allocation; for sites whose srun lacks PMIx)
#   AGREID_SRUN_ARGS / AGREID_MPIRUN_ARGS   extra words for the launcher (split on spaces)

readonly AGREID_EXIT_REQUEUE=75

agreid_log() { echo "[agreid-sbatch $(date +%H:%M:%S)] $*"; }

agreid_find_binary() {
  if [[ -n ${AGREID_BIN:-} ]]; then
    [[ -x $AGREID_BIN ]] || {
      agreid_log "error: AGREID_BIN=$AGREID_BIN is not an executable"
      return 2
    }
  elif command -v agreid >/dev/null 2>&1; then
    AGREID_BIN=$(command -v agreid)
  elif [[ -x $AGREID_ROOT/build/launch/agreid ]]; then
    AGREID_BIN=$AGREID_ROOT/build/launch/agreid
  else
    agreid_log "error: agreid binary not found: set AGREID_BIN or put agreid on PATH"
    return 2
  fi
  export AGREID_BIN
}

# The launcher words for one rank per task of the allocation.
agreid_launcher() {
  case ${AGREID_LAUNCHER:-srun} in
    srun)
      # Slurm >= 22.05: srun does not inherit --cpus-per-task from sbatch by itself.
      [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
      # shellcheck disable=SC2206
      AGREID_STEP=(srun --mpi=pmix --kill-on-bad-exit=1 ${AGREID_SRUN_ARGS:-})
      ;;
    mpirun)
      # Open MPI reads the SLURM allocation itself: SLURM_NTASKS ranks placed like the tasks.
      # shellcheck disable=SC2206
      AGREID_STEP=(mpirun -np "${SLURM_NTASKS:-1}" --bind-to none ${AGREID_MPIRUN_ARGS:-})
      ;;
    *)
      agreid_log "error: AGREID_LAUNCHER must be srun or mpirun, got '$AGREID_LAUNCHER'"
      return 2
      ;;
  esac
}

# The file a successful `agreid COMMAND ARGS...` writes last, from the resolved configuration
# (`agreid config show` with the --config and --set words of ARGS): run -> <run.out_dir>/
# results.json, pretrain -> <run.out_dir>/pretrain.json. Prints nothing for other commands;
# returns 2 when the configuration does not resolve (its error is on stderr).
agreid_step_result() {
  local command=$1 name
  shift
  case $command in
    run) name=results.json ;;
    pretrain) name=pretrain.json ;;
    *) return 0 ;;
  esac
  local words=()
  while (($#)); do
    case $1 in
      --config | --set)
        (($# >= 2)) && words+=("$1" "$2")
        shift
        ;;
      --config=* | --set=*) words+=("$1") ;;
    esac
    shift
  done
  local toml out_dir
  toml=$("$AGREID_BIN" config show "${words[@]}") || return 2
  # `out_dir = '...'` (a TOML literal string) or `out_dir = "..."` (basic, with \\ and \").
  out_dir=$(awk '/^\[/ { section = $0; next }
                 section == "[run]" && sub(/^out_dir = /, "") { print; exit }' <<<"$toml")
  case $out_dir in
    \'*\') out_dir=${out_dir:1:${#out_dir}-2} ;;
    \"*\") out_dir=$(sed -e 's/^"//' -e 's/"$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g' <<<"$out_dir") ;;
  esac
  if [[ -z $out_dir ]]; then
    agreid_log "error: run.out_dir is empty: the job step would write its results nowhere"
    return 2
  fi
  echo "$out_dir/$name"
}

# Identity of a file (device, inode, modification time, size); empty when it does not exist. The
# results are written to a temporary file and renamed, so every write changes it.
agreid_file_signature() { stat -L -c '%d:%i:%y:%s' -- "$1" 2>/dev/null || true; }

# Launches `agreid "$@"` as one job step and waits for it. SIGUSR1 and SIGTERM reaching this batch
# shell meanwhile are forwarded to the step. Sets AGREID_STEP_RC (the step's exit status) and
# AGREID_STOP_FORWARDED (1 when a stop was forwarded).
agreid_launch_step() {
  local step_pid rc stop_forwarded=0
  # shellcheck disable=SC2317
  agreid_forward_stop() {
    stop_forwarded=1
    agreid_log "stop signal received: forwarding SIGUSR1 to the job step"
    [[ -n ${step_pid:-} ]] && kill -USR1 "$step_pid" 2>/dev/null
  }
  trap agreid_forward_stop USR1 TERM
  agreid_log "job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0}: ${AGREID_STEP[*]} $AGREID_BIN $*"
  "${AGREID_STEP[@]}" "$AGREID_BIN" "$@" &
  step_pid=$!
  while true; do
    rc=0
    wait "$step_pid" || rc=$?
    # A trapped signal interrupts `wait` (status > 128) while the step still runs: wait again.
    if ((rc > 128)) && kill -0 "$step_pid" 2>/dev/null; then continue; fi
    break
  done
  trap - USR1 TERM
  agreid_log "job step exited with $rc"
  AGREID_STEP_RC=$rc
  AGREID_STOP_FORWARDED=$stop_forwarded
}

# Prints why RESULT (signature BEFORE when the step started) is not a fresh result and returns 0;
# returns 1 when the step wrote it.
agreid_missing_result() {
  local result=$1 before=$2 after
  after=$(agreid_file_signature "$result")
  if [[ -z $after ]]; then
    echo "wrote no result: $result does not exist (the ranks did not run to the end; see the" \
      "step's output above)"
  elif [[ $after == "$before" ]]; then
    echo "did not write its result: $result is unchanged since the step started (the ranks" \
      "did not run to the end)"
  else
    return 1
  fi
}

# Runs `agreid "$@"` as one job step (agreid_launch_step). SIGUSR1 (sbatch --signal=B:USR1@120, or
# `scancel --signal=USR1 --batch JOB`) and SIGTERM reaching this batch shell are forwarded to the
# step; agreid checkpoints at the next step boundary and exits 75, and the job is requeued
# (scontrol requeue); on restart checkpoint.resume = "auto" continues from the checkpoint.
# A step that exits with 0 without writing its result (agreid_step_result) is launched once more
# (srun has reported 0 for a step whose launch failed: "task 0 launch failed"; agreid skips or
# resumes what the first attempt did), and fails with 1 when the second attempt writes none either.
# Returns the step's exit code (75 after a requeue request; SLURM then ends this run of the job).
agreid_run_step() {
  agreid_find_binary || return
  agreid_launcher || return
  local result before="" rc attempt why
  result=$(agreid_step_result "$@") || return 2
  [[ -n $result ]] && before=$(agreid_file_signature "$result")
  for attempt in 1 2; do
    agreid_launch_step "$@"
    rc=$AGREID_STEP_RC
    { ((rc == 0)) && [[ -n $result ]]; } || break
    why=$(agreid_missing_result "$result" "$before") || break
    agreid_log "error: the job step exited with 0 but $why"
    rc=1
    { ((attempt == 1)) && ((!AGREID_STOP_FORWARDED)); } || break
    agreid_log "launching the job step once more (a step whose launch failed leaves no result)"
  done
  if ((rc == AGREID_EXIT_REQUEUE)) || { ((AGREID_STOP_FORWARDED)) && ((rc > 128)); }; then
    if [[ -n ${SLURM_JOB_ID:-} ]]; then
      agreid_log "requeueing job $SLURM_JOB_ID (resumes from its last checkpoint)"
      scontrol requeue "$SLURM_JOB_ID"
      return "$AGREID_EXIT_REQUEUE"
    fi
  fi
  return "$rc"
}
