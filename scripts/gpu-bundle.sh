# Functions of scripts/gpu-check.sh that unpack the offline bundle (scripts/offline-bundle.sh)
# into a prefix and make it relocatable. Sourced by gpu-check.sh, whose variables they use:
# prefix, usr, libdir, arch, and its say/die helpers.

host_libs=$(ldconfig -p 2>/dev/null | awk 'NR>1{print $1, $NF}' || true)  # soname path
host_has_soname() { [[ -n $(host_path_of "$1") ]]; }
host_path_of() { awk -v s="$1" '$1==s{print $2; exit}' <<<"$host_libs"; }

unpack_bundle() {
  local src=$1 dir
  if [[ -f $src ]]; then
    dir="$prefix/.bundle"
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -C "$dir" -xf "$src" || die "cannot read bundle '$src' (expected a tar from offline-bundle.sh)"
    dir="$dir/agreid-offline-bundle"
  elif [[ -d $src ]]; then
    dir=$src
  else
    die "bundle '$src' not found: build it with scripts/offline-bundle.sh on a connected Debian" \
      "12 machine, copy it here and pass --bundle PATH (or --bundle none)"
  fi
  [[ -f $dir/SHA256SUMS && -f $dir/MANIFEST.tsv ]] ||
    die "bundle '$src' has no SHA256SUMS/MANIFEST.tsv; was it made by scripts/offline-bundle.sh?"
  local stamp
  stamp=$(sha256sum "$dir/SHA256SUMS" | cut -d' ' -f1)
  if [[ -f $prefix/.unpacked && $(cat "$prefix/.unpacked") == "$stamp" ]]; then
    say "bundle already unpacked in $prefix"
    return
  fi
  (cd "$dir" && sha256sum --quiet -c SHA256SUMS) || die "bundle '$src' is corrupt (sha256 mismatch)"
  rm -rf "${usr:?}" "${prefix:?}/etc" "${prefix:?}/lib"
  local n=0 deb
  for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$prefix" || die "dpkg-deb -x failed on $(basename "$deb")"
    n=$((n + 1))
  done
  cp "$dir/MANIFEST.tsv" "$dir/host-sonames.txt" "$prefix/"
  relocate "$dir"
  echo "$stamp" >"$prefix/.unpacked"
  say "unpacked $n packages into $prefix"
}

# Makes the unpacked tree usable from $prefix instead of /.
relocate() {
  local dir=$1 link target base cand
  # Libraries of dependency packages that the node already has are removed, so the node's
  # (usually newer) copy is used and LD_LIBRARY_PATH overrides nothing it does not have to.
  local keep_pkgs
  keep_pkgs=$(awk -F'\t' '!/^#/ && $4=="root"{print $1}' "$dir/MANIFEST.tsv")
  local pruned=0 deb pkg f so
  for deb in "$dir"/debs/*.deb; do
    pkg=$(dpkg-deb -W --showformat='${Package}' "$deb")
    grep -qx "$pkg" <<<"$keep_pkgs" && continue
    [[ $pkg == libopenmpi3 || $pkg == libhdf5-* ]] && continue
    while read -r f; do
      f="$prefix/${f#./}"
      [[ -f $f && ! -L $f ]] || continue
      so=$(readelf -d "$f" 2>/dev/null | awk '/\(SONAME\)/{gsub(/[\[\]]/,"",$5); print $5}')
      if [[ -n $so ]] && host_has_soname "$so"; then
        rm -f "$f" "$(dirname "$f")/$so"
        pruned=$((pruned + 1))
      fi
    done < <(dpkg-deb -c "$deb" | awk '{print $6}' | grep -E "/lib/$arch/[^/]+\.so\.[0-9.]+$" || true)
  done
  ((pruned)) && say "using the node's copy of $pruned shared libraries the bundle also carries"
  # Absolute symlinks (libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) and dangling ones.
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    if [[ $target == /* ]]; then
      if [[ -e $prefix$target ]]; then
        ln -sfn "$prefix$target" "$link"
        continue
      elif [[ -e $target ]]; then
        continue
      fi
    fi
    [[ -e $link ]] && continue
    # Dangling: point a development link at the node's library with the same soname.
    base=$(basename "$target")
    cand=$base
    while [[ $cand == *.so.* ]]; do
      if host_has_soname "$cand"; then
        ln -sfn "$(host_path_of "$cand")" "$link"
        break
      fi
      cand=${cand%.*}
    done
  done < <(find "$prefix/usr" "$prefix/lib" -type l -print0 2>/dev/null)
  # Open MPI's update-alternatives names.
  for f in mpicc mpic++ mpicxx mpiCC mpiexec mpirun; do
    [[ -e $usr/bin/$f.openmpi ]] && ln -sfn "$f.openmpi" "$usr/bin/$f"
  done
  [[ -e $usr/bin/mpic++.openmpi ]] && ln -sfn mpic++.openmpi "$usr/bin/mpicxx"
  # Hard-coded /usr in pkg-config files and HDF5's compiler wrapper.
  for f in "$libdir"/pkgconfig/*.pc "$usr"/share/pkgconfig/*.pc; do
    [[ -f $f ]] && sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=$usr#" "$f"
  done
  for f in "$usr"/bin/h5cc "$usr"/bin/h5c++ "$usr"/bin/h5fc; do
    [[ -f $f && ! -L $f ]] && sed -i "s#^prefix=\"/usr\"#prefix=\"$usr\"#" "$f"
  done
  return 0
}
