# shellcheck shell=bash
# Shared by the agreid sbatch scripts (sourced, not run). Finds the agreid binary, launches one
# job step with srun --mpi=pmix (or mpirun), forwards SLURM's pre-emption warning to it, and
# requeues the job when agreid stopped after a checkpoint (exit code 75). See docs/slurm.md.
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

# Runs `agreid "$@"` as one job step. SIGUSR1 (sbatch --signal=B:USR1@120, or
# `scancel --signal=USR1 --batch JOB`) and SIGTERM reaching this batch shell are forwarded to the
# step; agreid checkpoints at the next step boundary and exits 75, and the job is requeued
# (scontrol requeue); on restart checkpoint.resume = "auto" continues from the checkpoint.
# Returns the step's exit code (75 after a requeue request; SLURM then ends this run of the job).
agreid_run_step() {
  agreid_find_binary || return
  agreid_launcher || return
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
  if ((rc == AGREID_EXIT_REQUEUE)) || { ((stop_forwarded)) && ((rc > 128)); }; then
    if [[ -n ${SLURM_JOB_ID:-} ]]; then
      agreid_log "requeueing job $SLURM_JOB_ID (resumes from its last checkpoint)"
      scontrol requeue "$SLURM_JOB_ID"
      return "$AGREID_EXIT_REQUEUE"
    fi
  fi
  return "$rc"
}
