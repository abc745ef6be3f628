#!/usr/bin/env bash
# Builds agreid for CUDA on a GPU node without network and runs the GPU checks (docs/gpu.md).
#
#  1. unpacks the offline bundle (scripts/offline-bundle.sh) with `dpkg-deb -x` into a prefix
#     (no root needed), verifies its SHA-256 sums and makes the prefix relocatable: absolute
#     symlinks, pkg-config files, h5cc and the Open MPI wrapper names (mpiexec from the prefix
#     finds its files through OPAL_PREFIX);
#  2. sets PATH, LD_LIBRARY_PATH, CMAKE_PREFIX_PATH, PKG_CONFIG_PATH and OPAL_PREFIX;
#  3. finds the CUDA-enabled LibTorch inside the installed PyTorch (torch.utils.cmake_prefix_path)
#     and NCCL (CUDA toolkit, else the nvidia-nccl wheel), configures build-gpu/ with
#     AGREID_WITH_CUDA=ON, builds, runs `ctest -L gpu` and the GPU stage-2 benchmark;
#  4. prints a summary (GPU, driver, tests passed/failed/skipped, benchmark numbers).
# Exits non-zero when any step fails, any gpu test fails, or no gpu test ran (all skipped or
# none registered).
#
# Usage: scripts/gpu-check.sh [options]
#   --bundle PATH     bundle tar or directory (default build-bundle/agreid-offline-bundle.tar;
#                     "none" uses the packages already installed on the node)
#   --prefix DIR      where the bundle is unpacked (default build-gpu-deps)
#   --build-dir DIR   build folder (default build-gpu)
#   --python PY       the Python that holds PyTorch (default: python3 on PATH)
#   --no-cuda         configure without CUDA (AGREID_WITH_CUDA=OFF) against the Python's LibTorch,
#                     or Debian's where that Python has none; for checking the prefix on a
#                     CPU-only machine
#   --isolate         make CMake and pkg-config ignore the node's copies of the folders the bundle
#                     fills, so every bundled dependency must come from the prefix (proves the
#                     bundle and the relocation on a machine that has the packages installed)
#   --stop-after S    unpack | configure | build: stop after that step, with its summary
#   --targets "T..."  build only these targets (default: everything)
#   --bench-steps N   timed steps of the benchmark (default 30; 0 skips it)
#   --jobs N          build jobs (default: nproc)
# Environment: AGREID_GPU_BENCH_CMD, if set, is run after the reference benchmark as the agreid
# side of the comparison; its last output line is shown in the summary.
set -euo pipefail

say() { echo "gpu-check: $*"; }
die() {
  echo "gpu-check: error: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
bundle="$repo/build-bundle/agreid-offline-bundle.tar"
prefix="$repo/build-gpu-deps"
build="$repo/build-gpu"
python=python3
cuda=1
isolate=0
stop_after=all
targets=""
bench_steps=30
jobs=$(nproc)
while (($#)); do
  case "$1" in
    --bundle) bundle=${2:?}; shift 2 ;;
    --prefix) prefix=${2:?}; shift 2 ;;
    --build-dir) build=${2:?}; shift 2 ;;
    --python) python=${2:?}; shift 2 ;;
    --no-cuda) cuda=0; shift ;;
    --isolate) isolate=1; shift ;;
    --stop-after) stop_after=${2:?}; shift 2 ;;
    --targets) targets=${2:?}; shift 2 ;;
    --bench-steps) bench_steps=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$stop_after" in unpack|configure|build|all) ;; *)
  die "--stop-after must be unpack, configure or build, not '$stop_after'" ;;
esac
mkdir -p "$prefix" "$build"
prefix=$(cd "$prefix" && pwd)
build=$(cd "$build" && pwd)
arch=x86_64-linux-gnu
usr="$prefix/usr"
libdir="$usr/lib/$arch"
logs="$build/gpu-check-logs"
mkdir -p "$logs"

declare -A summary
summary_keys=()
note() {
  [[ -v "summary[$1]" ]] || summary_keys+=("$1")
  summary[$1]=$2
}
print_summary() {
  echo
  echo "==================== agreid gpu-check summary ===================="
  for k in "${summary_keys[@]}"; do printf '%-26s %s\n' "$k" "${summary[$k]}"; done
  echo "================================================================="
}

# ---------------------------------------------------------------------------------- 1. unpack
# shellcheck source=scripts/gpu-bundle.sh
source "$(dirname "${BASH_SOURCE[0]}")/gpu-bundle.sh"  # unpack_bundle, relocate

if [[ $bundle == none ]]; then
  say "no bundle: using the node's own packages"
  note "dependencies" "node's packages (--bundle none)"
else
  unpack_bundle "$bundle"
  export PATH="$usr/bin:$PATH"
  export LD_LIBRARY_PATH="$libdir:$libdir/hdf5/serial${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export OPAL_PREFIX="$usr"
  if ((isolate)); then
    export PKG_CONFIG_LIBDIR="$libdir/pkgconfig:$usr/share/pkgconfig"
  else
    export PKG_CONFIG_PATH="$libdir/pkgconfig:$usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  fi
  note "dependencies" "bundle $(awk -F'\t' '!/^#/' "$prefix/MANIFEST.tsv" | wc -l) packages in $prefix"
  # The libraries the build loads at configure time must resolve on this node.
  missing=$(for f in "$usr/bin/opal_wrapper" "$usr/bin/orterun" "$libdir/libmpi.so.40" \
    "$libdir/libhdf5_serial.so.103" "$libdir/libturbojpeg.so.0" "$usr/bin/pkgconf"; do
    [[ -e $f ]] && ldd "$f" 2>/dev/null | awk -v f="$(basename "$f")" '/not found/{print f": "$1}'
  done | sort -u | tr '\n' ' ')
  [[ -z $missing ]] || die "libraries the bundle needs are missing on this node: $missing" \
    "(host-sonames.txt in $prefix lists what the bundle expects from the node)"
  command -v mpiexec >/dev/null && mpiexec --version >"$logs/mpiexec.txt" 2>&1 ||
    die "mpiexec from the prefix does not run: $(tail -n 2 "$logs/mpiexec.txt" | tr '\n' ' ')"
  note "mpiexec" "$(command -v mpiexec) ($(head -n 1 "$logs/mpiexec.txt"))"
  # Compile and run a two-rank MPI program with the prefix's mpicc and mpiexec.
  cat >"$logs/mpi_smoke.c" <<'EOF_C'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char** argv) {
  int rank = 0, size = 0, sum = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("ranks %d, sum of ranks %d\n", size, sum);
  MPI_Finalize();
  return sum == size * (size - 1) / 2 ? 0 : 1;
}
EOF_C
  mpicc "$logs/mpi_smoke.c" -o "$logs/mpi_smoke" >"$logs/mpi_smoke.txt" 2>&1 ||
    die "mpicc from the prefix failed: $(tail -n 3 "$logs/mpi_smoke.txt" | tr '\n' ' ')"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader,tcp \
    OMPI_MCA_btl_vader_single_copy_mechanism=none mpiexec -n 2 --oversubscribe \
    "$logs/mpi_smoke" >>"$logs/mpi_smoke.txt" 2>&1 ||
    die "a 2-rank MPI program did not run: $(tail -n 3 "$logs/mpi_smoke.txt" | tr '\n' ' ')"
  note "MPI smoke (2 ranks)" "$(grep -m 1 '^ranks' "$logs/mpi_smoke.txt")"
fi
if [[ $stop_after == unpack ]]; then
  print_summary
  exit 0
fi

# ------------------------------------------------------------------------------- 2. configure
command -v cmake >/dev/null || die "cmake not found on PATH"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake_args=(-S "$repo" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release)
torch_dir=""
if "$python" -c 'import torch' 2>/dev/null; then
  torch_dir=$("$python" -c 'import torch, os; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')
  [[ -f $torch_dir/TorchConfig.cmake ]] || torch_dir=""
  note "python torch" "$("$python" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
fi
if ((cuda)); then
  [[ -n $torch_dir ]] || die "'$python' has no PyTorch with a CMake package; pass --python" \
    "the interpreter whose torch is CUDA-enabled"
  [[ $("$python" -c 'import torch; print(torch.version.cuda or "")') != "" ]] ||
    die "the PyTorch of '$python' is CPU-only; a CUDA build needs a CUDA-enabled torch"
  cuda_home=${CUDA_HOME:-/usr/local/cuda}
  if [[ ! -x $cuda_home/bin/nvcc ]] && command -v nvcc >/dev/null; then
    cuda_home=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
  fi
  [[ -x $cuda_home/bin/nvcc ]] || die "nvcc not found in $cuda_home/bin (set CUDA_HOME)"
  nccl_inc="" nccl_lib=""
  for d in "${NCCL_HOME:-}" "$cuda_home" /usr; do
    [[ -n $d && -f $d/include/nccl.h ]] || continue
    nccl_inc=$d/include
    nccl_lib=$(ls "$d"/lib64/libnccl.so* "$d"/lib/libnccl.so* "$d/lib/$arch"/libnccl.so* 2>/dev/null |
      head -n 1 || true)
    [[ -n $nccl_lib ]] && break
  done
  if [[ -z $nccl_lib ]]; then  # the nvidia-nccl-cuXX wheel PyTorch depends on
    d=$("$python" -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
    if [[ -n $d && -f $d/include/nccl.h ]]; then
      nccl_inc=$d/include
      nccl_lib=$(ls "$d"/lib/libnccl.so* 2>/dev/null | head -n 1 || true)
    fi
  fi
  [[ -n $nccl_lib ]] || die "NCCL not found (looked in \$NCCL_HOME, $cuda_home, /usr and the" \
    "nvidia-nccl wheel); set NCCL_HOME"
  arch_list=$("$python" -c 'import torch; c=torch.cuda.get_device_capability(); print(f"{c[0]}.{c[1]}")' \
    2>/dev/null || true)
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-${arch_list:-9.0}}
  export CUDAToolkit_ROOT=$cuda_home
  LD_LIBRARY_PATH="$(dirname "$nccl_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
  cmake_args+=(-DAGREID_WITH_CUDA=ON -DTorch_DIR="$torch_dir" -DCUDAToolkit_ROOT="$cuda_home"
    -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DNCCL_INCLUDE_DIR="$nccl_inc"
    -DNCCL_LIBRARY="$nccl_lib")
  note "CUDA toolkit" "$("$cuda_home/bin/nvcc" --version | tail -n 2 | head -n 1)"
  note "NCCL" "$nccl_lib"
else
  if [[ -z $torch_dir && -f /usr/lib/$arch/cmake/Torch/TorchConfig.cmake ]]; then
    torch_dir=/usr/lib/$arch/cmake/Torch  # Debian's CPU LibTorch (its python3-torch has none)
  fi
  [[ -n $torch_dir ]] || die "no LibTorch found (neither '$python' nor Debian's libtorch-dev)"
  cmake_args+=(-DAGREID_WITH_CUDA=OFF -DTorch_DIR="$torch_dir")
fi
note "LibTorch" "$torch_dir"
if ((isolate)); then
  # Hide the node's copies of every header and library folder the bundle fills, so each bundled
  # dependency can only be found in the prefix. /usr/include and /usr/lib/<arch> themselves stay
  # visible for LibTorch's own dependencies; the prefix is searched before them anyway.
  [[ $bundle != none ]] || die "--isolate needs a bundle"
  ignore=$(cd "$prefix" && find usr/include usr/lib -mindepth 1 \( -type f -o -type l \) \
    \( -name '*.h' -o -name '*.hpp' -o -name '*.so' -o -name '*.cmake' -o -name '*.pc' \) \
    -printf '/%h\n' | awk -F/ '$3!="include" || NF<=5' | sort -u |
    grep -v -x -E "/usr/include|/usr/lib/$arch" | tr '\n' ';')
  cmake_args+=("-DCMAKE_IGNORE_PATH=${ignore%;}")
  note "isolated from" "$(tr ';' '\n' <<<"${ignore%;}" | grep -c .) folders of the node"
fi
say "configuring $build"
if ! cmake --fresh "${cmake_args[@]}" >"$logs/configure.txt" 2>&1; then
  tail -n 30 "$logs/configure.txt" >&2
  die "cmake configure failed (full log: $logs/configure.txt)"
fi
cache="$build/CMakeCache.txt"
cache_get() { awk -F= -v k="$1" 'index($1, k":")==1{print $2; exit}' "$cache"; }
note "MPI C compiler" "$(cache_get MPI_C_COMPILER)"
note "MPI headers" "$(cache_get MPI_C_HEADER_DIR)"
note "HDF5 h5cc" "$(cache_get HDF5_C_COMPILER_EXECUTABLE)"
note "OpenSSL" "$(cache_get OPENSSL_CRYPTO_LIBRARY)"
note "TOML++" "$(cache_get tomlplusplus_DIR)"
note "nlohmann-json" "$(cache_get nlohmann_json_DIR)"
note "GTest" "$(cache_get GTest_DIR)"
note "zlib" "$(cache_get ZLIB_LIBRARY_RELEASE)"
note "libturbojpeg" "$(awk -F= '/^TURBOJPEG_LIBDIR:INTERNAL=/{print $2}' "$cache")"
note "NCCL communicator" "$(grep -q 'NCCL communicator enabled' "$logs/configure.txt" && echo built || echo 'not built')"
if [[ $stop_after == configure ]]; then
  print_summary
  exit 0
fi

# ----------------------------------------------------------------------------------- 3. build
say "building ($jobs jobs${targets:+, targets: $targets})"
build_cmd=(cmake --build "$build" -j "$jobs")
if [[ -n $targets ]]; then
  read -r -a target_list <<<"$targets"
  build_cmd+=(--target "${target_list[@]}")
fi
if ! "${build_cmd[@]}" >"$logs/build.txt" 2>&1; then
  grep -m 20 -E 'error|Error' "$logs/build.txt" >&2 || tail -n 30 "$logs/build.txt" >&2
  die "build failed (full log: $logs/build.txt)"
fi
note "build" "ok ($build)"
if [[ $stop_after == build ]]; then
  print_summary
  exit 0
fi

# ------------------------------------------------------------------------------- 4. gpu tests
status=0
if command -v nvidia-smi >/dev/null; then
  note "GPU" "$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)"
  note "driver" "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
else
  note "GPU" "none (nvidia-smi not found)"
fi
json_dir="$logs/gtest-json"
rm -rf "$json_dir"
mkdir -p "$json_dir"
say "running ctest -L gpu"
set +e
GTEST_OUTPUT="json:$json_dir/" ctest --test-dir "$build" -L gpu --output-on-failure \
  --timeout 900 >"$logs/ctest-gpu.txt" 2>&1
ctest_rc=$?
set -e
ctest_line=$(grep -E 'tests passed|No tests were found' "$logs/ctest-gpu.txt" | tail -n 1 || true)
# GoogleTest cases: a GTEST_SKIP passes in CTest, so count from the JSON reports.
read -r passed failed skipped < <("$python" - "$json_dir" <<'EOF' 2>/dev/null || echo "0 0 0"
import json, os, sys
p = f = s = 0
for name in os.listdir(sys.argv[1]):
    with open(os.path.join(sys.argv[1], name)) as fh:
        report = json.load(fh)
    for suite in report.get("testsuites", []):
        for case in suite.get("testsuite", []):
            if case.get("failures"):
                f += 1
            elif case.get("result") == "SKIPPED" or case.get("status") == "NOTRUN":
                s += 1
            else:
                p += 1
print(p, f, s)
EOF
)
note "ctest -L gpu" "${ctest_line:-no result line} (rc $ctest_rc)"
note "gpu test cases" "$passed passed, $failed failed, $skipped skipped"
if ((ctest_rc != 0 || failed > 0)); then
  status=1
  say "gpu tests failed (log: $logs/ctest-gpu.txt)"
elif ((passed == 0)); then
  status=1
  say "no gpu test ran (none registered, or all skipped: is a CUDA device visible?)"
fi

# ------------------------------------------------------------------------------- 5. benchmark
if ((bench_steps > 0)); then
  say "running the stage-2 reference benchmark ($bench_steps steps)"
  bench_args=(--device cuda --steps "$bench_steps")
  # Without CUDA only a smoke run (2 blocks, batch 8): a CPU number says nothing about a GPU.
  ((cuda)) || bench_args=(--device cpu --steps 1 --warmup 1 --batch 8 --layers 2)
  if "$python" "$repo/bench/gpu_stage2_reference.py" "${bench_args[@]}" \
    --json "$logs/bench-reference.json" >"$logs/bench-reference.txt" 2>&1; then
    note "reference stage-2 step" "$(tail -n 1 "$logs/bench-reference.txt")"
  else
    status=1
    note "reference stage-2 step" "FAILED (log: $logs/bench-reference.txt)"
  fi
  if [[ -n ${AGREID_GPU_BENCH_CMD:-} ]]; then
    if bash -c "$AGREID_GPU_BENCH_CMD" >"$logs/bench-agreid.txt" 2>&1; then
      note "agreid stage-2 step" "$(tail -n 1 "$logs/bench-agreid.txt")"
    else
      status=1
      note "agreid stage-2 step" "FAILED (log: $logs/bench-agreid.txt)"
    fi
  else
    note "agreid stage-2 step" "not run (no AGREID_GPU_BENCH_CMD)"
  fi
fi
note "logs" "$logs"
note "result" "$( ((status == 0)) && echo PASS || echo FAIL)"
print_summary
exit "$status"
