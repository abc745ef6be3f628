#!/usr/bin/env bash
# Builds the offline dependency bundle for an air-gapped GPU node (docs/gpu.md).
#
# Run on a connected Debian 12 (bookworm, amd64) machine whose apt lists are current
# (`apt-get update` once, as root). It resolves the Debian packages agreid needs besides what a
# CUDA build node already has (compiler, C library, CMake, Python with PyTorch), downloads their
# .deb files with `apt-get download` (no root needed), and packs them with a manifest and
# SHA-256 sums into one tar file. scripts/gpu-check.sh unpacks it on the GPU node with `dpkg -x`.
#
# Usage: scripts/offline-bundle.sh [--out FILE.tar | --out DIR] [--list] [--extra PKG]...
#   --out PATH   where the bundle goes (default build-bundle/agreid-offline-bundle.tar); a path
#                not ending in .tar is filled as a directory instead of a tar file
#   --list       print the resolved package list (name, version, size) and download nothing
#   --extra PKG  add a package (and its dependencies) to the roots
#
# Resolution: apt's own resolver (`apt-get -s install` against an empty dpkg status, so every
# dependency is listed, with alternatives settled as apt would) from the root packages below,
# minus the "host" set: the toolchain, the C library, interpreters, package-management tools and
# the base libraries of every Debian/Ubuntu system. Those must come from the GPU node itself; the
# bundle records every shared library its files need but do not contain (host-sonames.txt), and
# gpu-check.sh verifies the node has them before building.
set -euo pipefail

die() {
  echo "offline-bundle: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/build-bundle/agreid-offline-bundle.tar"
list_only=0
extra=()
while (($#)); do
  case "$1" in
    --out) out=${2:?--out needs a path}; shift 2 ;;
    --list) list_only=1; shift ;;
    --extra) extra+=("${2:?--extra needs a package}"); shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (expected --out PATH, --list or --extra PKG)" ;;
  esac
done

# The packages agreid builds and links against, by dependency (CMakeLists.txt).
roots=(
  libopenmpi-dev openmpi-bin openmpi-common libopenmpi3             # Open MPI 4.1
  libhdf5-dev libhdf5-103-1                                         # HDF5 1.10
  libtomlplusplus-dev libtomlplusplus3                              # TOML++
  nlohmann-json3-dev                                                # nlohmann-json (header-only)
  libgtest-dev googletest                                           # GoogleTest
  libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev libjpeg62-turbo  # libjpeg-turbo
  libssl-dev libssl3                                                # OpenSSL (SHA-256 cache keys)
  libtiff-dev libtiff6 libpng-dev libpng16-16                       # TIFF and PNG (data/)
  zlib1g-dev                                                        # zlib headers
  pkgconf                                                           # pkg-config for turbojpeg
)
roots+=("${extra[@]}")

# The host set, never bundled (anchored regular expressions over package names). A CUDA build
# node compiles C++ already, so it has the compiler, binutils and the C/C++ runtime; every
# Debian/Ubuntu image has the base libraries. -dev packages pulled in only by other -dev
# packages (headers for static linking of transitive dependencies) are dropped as well, except
# the ones HDF5's h5cc names on its link line (libcrypto, libcurl, libsz, zlib).
host_regex='^(libc6|libc6-dev|libc-bin|libc-dev-bin|linux-libc-dev|libcrypt1|libcrypt-dev'
host_regex+='|libnsl2|libnsl-dev|libtirpc.*|rpcsvc-proto|gcc|g\+\+|cpp|gcc-[0-9]+.*|g\+\+-[0-9]+.*'
host_regex+='|cpp-[0-9]+.*|gfortran.*|libgfortran.*|libgcc-[0-9]+-dev|libstdc\+\+-[0-9]+-dev'
host_regex+='|libstdc\+\+6|libgcc-s1|lib(asan|tsan|lsan|ubsan|hwasan|itm|atomic|quadmath|gomp|cc1-)[0-9]+'
host_regex+='|libisl[0-9]+|libmpc[0-9]+|libmpfr[0-9]+|libgmp[0-9]+|binutils.*|libbinutils|libctf.*'
host_regex+='|libgprofng[0-9]+|libjansson[0-9]+|libzstd1|liblzma5|libbz2-1\.0|zlib1g|libtinfo6'
host_regex+='|libselinux1|libpcre2-8-0|libmd0|libbsd0|libaudit.*|libcap-ng0|libcap2|libsemanage.*'
host_regex+='|libsepol.*|libpam.*|libdb5\.3|libgdbm.*|perl|perl-base|perl-modules-.*|libperl.*'
host_regex+='|python3.*|dpkg|debconf|debianutils|tar|passwd|adduser|login|base-files|coreutils'
host_regex+='|autoconf|automake|autotools-dev|m4|libtool|libltdl-dev|openssh-client|libedit2'
host_regex+='|libfido2-1|libcbor0.*|libxdmcp6|libxau6|libx11-.*|libxcb1|libxext6|libxnvctrl0'
host_regex+='|libjs-.*|icu-devtools|libicu-dev|libxml2-dev|libhwloc-dev|libevent-dev|libibverbs-dev'
host_regex+='|libnl-.*-dev|libpmix-dev|libnuma-dev|libgtest-dev-doc)$'

need() { command -v "$1" >/dev/null || die "'$1' not found; this script needs Debian's $2"; }
need apt-get apt
need apt-cache apt
need dpkg-deb dpkg
need sha256sum coreutils
need readelf binutils

[[ $(dpkg --print-architecture) == amd64 ]] ||
  die "this machine is $(dpkg --print-architecture); the bundle is for amd64 nodes"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[[ $codename == bookworm ]] ||
  die "this machine runs '${codename:-unknown}', expected Debian 12 (bookworm): the bundle's" \
    "libraries must match the glibc the build expects"
apt-cache show libopenmpi-dev >/dev/null 2>&1 ||
  die "apt does not know libopenmpi-dev: run 'apt-get update' (as root) first"

# Resolve with apt against an empty dpkg status so that already-installed packages are listed too.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt-get download writes as the _apt user where it can
: >"$work/status"
if ! apt-get -s -o Dir::State::status="$work/status" -o APT::Architecture=amd64 \
  --no-install-recommends install "${roots[@]}" >"$work/sim.txt" 2>"$work/sim.err"; then
  die "apt could not resolve the root packages: $(tail -n 1 "$work/sim.err")"
fi
awk '/^Inst /{print $2}' "$work/sim.txt" | sed 's/:amd64$//' | sort -u >"$work/all.txt"
mapfile -t all_pkgs <"$work/all.txt"
is_root() { printf '%s\n' "${roots[@]}" | grep -qx "$1"; }
is_host() { ! is_root "$1" && [[ $1 =~ $host_regex ]]; }
# Keep what the roots reach through Depends/PreDepends without passing through a host package,
# so nothing pulled in only by a dropped package (a -dev chain, a compiler) is bundled.
apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${all_pkgs[@]}" 2>/dev/null |
  awk '/^[^ ]/{pkg=$1; next}
       /^ [ |](Pre)?Depends:/{gsub(/[<>]/,"",$2); print pkg, $2; next}
       /^    /{print pkg, $1}' | sed 's/:amd64//g' | sort -u >"$work/edges.txt"
: >"$work/keep.txt"
: >"$work/host.txt"
queue=("${roots[@]}")
while ((${#queue[@]})); do
  p=${queue[0]}
  queue=("${queue[@]:1}")
  grep -qx "$p" "$work/keep.txt" && continue
  echo "$p" >>"$work/keep.txt"
  for d in $(awk -v p="$p" '$1==p{print $2}' "$work/edges.txt"); do
    grep -qx "$d" "$work/all.txt" || continue  # an alternative apt did not choose
    if is_host "$d"; then
      grep -qx "$d" "$work/host.txt" || echo "$d" >>"$work/host.txt"
    else
      queue+=("$d")
    fi
  done
done
for p in "${roots[@]}"; do
  grep -qx "$p" "$work/keep.txt" || die "root package '$p' was not resolved by apt"
done

# name version size (bytes) for the kept packages, in one apt-cache call.
mapfile -t keep_pkgs <"$work/keep.txt"
apt-cache show --no-all-versions "${keep_pkgs[@]}" |
  awk '/^Package:/{p=$2} /^Version:/{v=$2} /^Size:/{print p, v, $2}' | sort -u >"$work/info.txt"
total=$(awk '{s+=$3} END{print s}' "$work/info.txt")
count=$(wc -l <"$work/info.txt")
if ((list_only)); then
  cat "$work/info.txt"
  printf '%d packages, %.1f MiB of .deb files; %d left to the host\n' "$count" \
    "$(echo "$total / 1048576" | bc -l)" "$(wc -l <"$work/host.txt")"
  exit 0
fi

stage="$work/agreid-offline-bundle"
mkdir -p "$stage/debs"
echo "offline-bundle: downloading $count packages ($((total / 1048576)) MiB)"
mapfile -t pinned < <(awk '{print $1"="$2}' "$work/info.txt")
sandbox=()
[[ $(id -u) -eq 0 ]] && sandbox=(-o APT::Sandbox::User=root)  # root: no _apt warning
(cd "$stage/debs" && apt-get -q=2 -o APT::Architecture=amd64 "${sandbox[@]}" download \
  "${pinned[@]}") ||
  die "apt-get download failed (network, or stale lists: run 'apt-get update')"

# Manifest: one line per package (name, version, architecture, role, file, bytes, sha256).
{
  printf '# agreid offline bundle, format 1; built %s on %s from Debian %s (%s)\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -m)" "$(cat /etc/debian_version)" "$codename"
  printf '# package\tversion\tarch\trole\tfile\tbytes\tsha256\n'
  for deb in "$stage"/debs/*.deb; do
    f=$(basename "$deb")
    read -r name version arch <<<"$(dpkg-deb -W --showformat='${Package} ${Version} ${Architecture}' "$deb")"
    role=dependency
    is_root "$name" && role=root
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$version" "$arch" "$role" "debs/$f" \
      "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)"
  done
} >"$stage/MANIFEST.tsv"
sed 's/^/# host package (not bundled): /' "$work/host.txt" >>"$stage/MANIFEST.tsv"
for p in "${keep_pkgs[@]}"; do
  ls "$stage"/debs/"${p}"_*.deb >/dev/null 2>&1 || die "package '$p' was not downloaded"
done

# Self-check: unpack everything and list the shared libraries (sonames) the bundle's ELF files
# need but no bundled file provides. gpu-check.sh requires each of them on the node.
root="$work/unpacked"
mkdir -p "$root"
for deb in "$stage"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
find "$root" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0 |
  while IFS= read -r -d '' f; do
    if [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == 177ELF ]]; then
      readelf -d "$f" 2>/dev/null | awk '/\(NEEDED\)/{gsub(/[\[\]]/,"",$5); print $5}'
      readelf -d "$f" 2>/dev/null | awk '/\(SONAME\)/{gsub(/[\[\]]/,"",$5); print "SONAME " $5}'
      basename "$f" | sed 's/^/FILE /'
    fi
  done >"$work/elf.txt"
awk '$1=="SONAME"||$1=="FILE"{print $2}' "$work/elf.txt" | sort -u >"$work/provided.txt"
grep -v -E '^(SONAME|FILE) ' "$work/elf.txt" | sort -u | comm -23 - "$work/provided.txt" \
  >"$stage/host-sonames.txt"
(cd "$stage" && find debs -name '*.deb' -print0 | sort -z | xargs -0 sha256sum >SHA256SUMS)
cat >"$stage/README" <<EOF
agreid offline dependency bundle ($count Debian 12 amd64 packages).
Unpack and use on the GPU node with: scripts/gpu-check.sh --bundle <this tar or directory>
MANIFEST.tsv     package, version, role, file, size and sha256 of every .deb
SHA256SUMS       sha256sum -c input for debs/
host-sonames.txt shared libraries the bundle needs from the node itself (C/C++ runtime, base libs)
EOF

mkdir -p "$(dirname "$out")"
if [[ $out == *.tar ]]; then
  tmp="$out.tmp.$$"
  tar -C "$work" -cf "$tmp" agreid-offline-bundle
  mv -f "$tmp" "$out"
else
  rm -rf "$out.tmp.$$"
  cp -r "$stage" "$out.tmp.$$"
  rm -rf "$out"
  mv "$out.tmp.$$" "$out"
fi
printf 'offline-bundle: wrote %s (%d packages, %s); host must provide: %s\n' "$out" "$count" \
  "$(du -sh "$out" | cut -f1)" "$(tr '\n' ' ' <"$stage/host-sonames.txt")"
