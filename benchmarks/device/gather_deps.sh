#!/usr/bin/env bash
# Gathers, on the development machine (Debian 12, after launch/setup.sh), what the GPU machine lacks
# to build and check lowbit into ONE ignored folder, to be carried there with the device tool's
# `carry: ["device-deps"]` (docs/performance.md, "Device check"):
#
#   device-deps/prefix.tar.xz    a prefix (usr/, etc/) holding the Debian -dev packages lowbit builds
#                                against (OpenMPI with mpirun, HDF5, yaml-cpp, nlohmann-json, PCRE2,
#                                CLI11, zlib, GoogleTest/GMock, pkg-config) and the runtime libraries
#                                they need: fetched with `apt-get download`, unpacked with `dpkg-deb -x`
#                                into build-device-deps/stage (never into /), pruned (no docs, man pages,
#                                locales, static libraries but GoogleTest's, no Fortran/Java/OpenSHMEM,
#                                no plugins for fabrics a one-GPU machine has not, no library nothing
#                                needs) and made relocatable (benchmarks/device/prefix_tool.py).
#                                Compressed because everything carried, the working tree included,
#                                must stay under 64 MiB; check.sh unpacks it into its build folder.
#     prefix/lowbit-packages.txt      package, version, own|system for every carried package
#     prefix/lowbit-runtime-libs.txt  own|system SONAME PATH PACKAGE: check.sh always uses the "own"
#                                     libraries, and a "system" one only where the host lacks its soname
#   device-deps/llama3-tokenizer/  the Llama 3 tokenizer (tokenizer.json.xz, tokenizer_config.json)
#   device-deps/tiny-corpus/       launch/prepare_tiny_corpus.py's output (train.txt.xz, validation.txt,
#                                test.txt, manifest.json): the GPU machine lacks the Debian packages it
#                                is made from; the tests' tiny_corpus fixture and the benchmark's
#                                calibration and evaluation text come from it
#
# Usage: benchmarks/device/gather_deps.sh [OUT_DIR]   (default: device-deps in the repository root)
# The .deb files and the unpacked prefix stay in build-device-deps/ (ignored, not carried).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/device-deps}"
work="$root/build-device-deps"
shared="${LOWBIT_SHARED_DIR:-$root/../shared}"
PY="${PYTHON:-python3}"
start_s=$(date +%s)

for tool in apt-get apt-cache dpkg-deb dpkg-query dpkg "$PY"; do
  command -v "$tool" >/dev/null || { echo "gather_deps: '$tool' not found (a Debian machine after launch/setup.sh)" >&2; exit 1; }
done

# What lowbit builds against (cmake/dependencies.cmake), and OpenMPI's own runtime (its PMIx, hwloc
# and libevent must match its build: check.sh always uses these, never a host copy).
OWN_PACKAGES=(
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libpmix2 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7
  libhdf5-dev hdf5-helpers libhdf5-103-1 libsz2 libaec0
  libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libpcre2-dev libcli11-dev zlib1g-dev
  libgtest-dev libgmock-dev
  pkg-config pkgconf pkgconf-bin libpkgconf3
)
# Runtime libraries of -dev packages that nothing in the prefix needs (only lowbit links them), and
# those found by following the ELF files' NEEDED entries (zlib1g, libcurl4 and its closure): "system"
# libraries, which check.sh takes from the host when the host has that soname.
SYSTEM_SEED=(libpcre2-8-0)
# The link-time names lowbit's build uses: each must be in the prefix at the end.
LINK_NAMES=(usr/lib/x86_64-linux-gnu/libmpi.so usr/lib/x86_64-linux-gnu/hdf5/serial/libhdf5.so
            usr/lib/x86_64-linux-gnu/libyaml-cpp.so usr/lib/x86_64-linux-gnu/libpcre2-8.so
            usr/lib/x86_64-linux-gnu/libz.so usr/lib/x86_64-linux-gnu/libgtest.a usr/lib/x86_64-linux-gnu/libgmock.a
            usr/lib/x86_64-linux-gnu/libcrypto.so usr/lib/x86_64-linux-gnu/libcurl.so usr/lib/x86_64-linux-gnu/libsz.so
            usr/bin/mpirun usr/bin/mpicc usr/bin/h5cc usr/bin/pkg-config)

mkdir -p "$work/debs" "$work/lists"
stage="$work/stage"
rm -rf "$stage" "$work/lists"
mkdir -p "$stage" "$work/lists"

download() {  # packages... -> .deb files in $work/debs (the candidate versions of this machine's apt)
  local need=()
  for p in "$@"; do
    local v
    v="$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')"
    [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "gather_deps: no candidate version of Debian package '$p'" >&2; exit 1; }
    ls "$work/debs/${p}_"*.deb >/dev/null 2>&1 || need+=("$p")
  done
  if ((${#need[@]})); then
    (cd "$work/debs" && apt-get download -q -o APT::Sandbox::User=root "${need[@]}" >/dev/null)
  fi
}

unpack() {  # packages... -> $stage, and each package's file list in $work/lists/PKG.files
  for p in "$@"; do
    local deb
    deb="$(ls -t "$work/debs/${p}_"*.deb | head -1)"
    dpkg-deb -x "$deb" "$stage"
    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./##' | grep -v '/$' > "$work/lists/$p.files" || true
    echo "$p $(dpkg-deb -f "$deb" Version)" >> "$work/lists/packages"
  done
}

echo "[gather] Debian packages lowbit builds against: ${#OWN_PACKAGES[@]}, and ${SYSTEM_SEED[*]}"
download "${OWN_PACKAGES[@]}" "${SYSTEM_SEED[@]}"
unpack "${OWN_PACKAGES[@]}" "${SYSTEM_SEED[@]}"
"$PY" "$here/prefix_tool.py" prune "$stage"

# The closure: a soname some kept ELF file needs and nothing in the prefix provides -> the package
# that holds it on this machine (setup.sh installed them all) -> download, unpack, prune; repeat.
system_packages=("${SYSTEM_SEED[@]}")
for round in 1 2 3 4 5 6 7 8; do
  mapfile -t missing < <("$PY" "$here/prefix_tool.py" missing "$stage" | awk '{print $1}')
  ((${#missing[@]})) || break
  new=()
  for so in "${missing[@]}"; do
    owner="$(dpkg -S "*/$so" 2>/dev/null | grep -E ': /(usr/)?lib/x86_64-linux-gnu/' | head -1 | cut -d: -f1 || true)"
    [ -n "$owner" ] || { echo "gather_deps: no installed package holds $so (needed in the prefix); run launch/setup.sh" >&2; exit 1; }
    [[ " ${system_packages[*]} ${new[*]} " == *" $owner "* ]] || new+=("$owner")
  done
  echo "[gather] round $round: ${missing[*]} -> ${new[*]}"
  download "${new[@]}"
  unpack "${new[@]}"
  system_packages+=("${new[@]}")
  "$PY" "$here/prefix_tool.py" prune "$stage"
done
left="$("$PY" "$here/prefix_tool.py" missing "$stage")"
[ -z "$left" ] || { echo "gather_deps: still unresolved after 8 rounds:"; echo "$left"; exit 1; } >&2

"$PY" "$here/prefix_tool.py" collect "$stage"
"$PY" "$here/prefix_tool.py" fixup "$stage"
for f in "${LINK_NAMES[@]}"; do
  [ -e "$stage/$f" ] || { echo "gather_deps: $f is missing from the prefix" >&2; exit 1; }
done
printf '%s\n' "${OWN_PACKAGES[@]}" > "$work/own-packages"
{
  echo "# package version own|system (benchmarks/device/gather_deps.sh, $(date -u +%Y-%m-%d), from $(. /etc/os-release && echo "$PRETTY_NAME"))"
  while read -r p v; do
    if grep -qx "$p" "$work/own-packages"; then echo "$p $v own"; else echo "$p $v system"; fi
  done < "$work/lists/packages"
} > "$stage/lowbit-packages.txt"
"$PY" "$here/prefix_tool.py" runtime-libs "$stage" "$work/own-packages" "$work/lists" > "$stage/lowbit-runtime-libs.txt"

# ---- into the carried folder ----------------------------------------------------------------------
mkdir -p "$out"
rm -rf "$out/prefix"
"$PY" - "$stage" "$out/prefix.tar.xz" <<'EOF'
import os, sys, tarfile
stage, dest = sys.argv[1], sys.argv[2]
def norm(ti):  # reproducible: no owners, no times
    ti.uid = ti.gid = 0; ti.uname = ti.gname = "root"; ti.mtime = 0
    return ti
with tarfile.open(dest + ".tmp", "w:xz", preset=9) as tar:
    for d, dirs, files in os.walk(stage):
        dirs.sort()
        for name in sorted(files) + sorted(x for x in dirs if os.path.islink(os.path.join(d, x))):
            tar.add(os.path.join(d, name), arcname=os.path.relpath(os.path.join(d, name), stage),
                    recursive=False, filter=norm)
os.replace(dest + ".tmp", dest)
EOF

# The Llama 3 tokenizer (the benchmark model's tokenizer.json; the tests' real-tokenizer fixture).
tok="$shared/fixtures/llama3-tokenizer"
[ -f "$tok/tokenizer.json" ] || { echo "gather_deps: $tok/tokenizer.json not found (set LOWBIT_SHARED_DIR)" >&2; exit 1; }
rm -rf "$out/llama3-tokenizer"
mkdir -p "$out/llama3-tokenizer"
"$PY" - "$tok/tokenizer.json" "$out/llama3-tokenizer/tokenizer.json.xz" <<'EOF'
import lzma, sys
open(sys.argv[2], "wb").write(lzma.compress(open(sys.argv[1], "rb").read(), preset=9))
EOF
for f in tokenizer_config.json special_tokens_map.json README.md; do
  [ -f "$tok/$f" ] && cp "$tok/$f" "$out/llama3-tokenizer/"
done

# The tiny corpus (deterministic: the Debian packages' text, split by hash).
corpus="$work/tiny-corpus"
[ -f "$corpus/manifest.json" ] || "$PY" "$root/launch/prepare_tiny_corpus.py" "$corpus"
rm -rf "$out/tiny-corpus"
mkdir -p "$out/tiny-corpus"
cp "$corpus/manifest.json" "$corpus/test.txt" "$corpus/validation.txt" "$out/tiny-corpus/"
if [ ! -f "$work/train.txt.xz" ] || [ "$corpus/train.txt" -nt "$work/train.txt.xz" ]; then
  "$PY" - "$corpus/train.txt" "$work/train.txt.xz" <<'EOF'
import lzma, sys
open(sys.argv[2], "wb").write(lzma.compress(open(sys.argv[1], "rb").read(), preset=9))
EOF
fi
cp "$work/train.txt.xz" "$out/tiny-corpus/"

# ---- sizes ------------------------------------------------------------------------------------------
kib() { du -sk "$1" | cut -f1; }
tree_bytes=$(cd "$root" && { git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null || true; } | awk '{s += $1} END {printf "%.0f", s}')
out_bytes=$(du -sb "$out" | cut -f1)
echo "[gather] $(grep -vc '^#' "$stage/lowbit-packages.txt") packages ($(grep -c ' own$' "$stage/lowbit-packages.txt") own, $(grep -c ' system$' "$stage/lowbit-packages.txt") system)"
echo "[gather] sizes: prefix $(( $(kib "$stage") / 1024 )) MiB unpacked, $(( $(kib "$out/prefix.tar.xz") / 1024 )) MiB as prefix.tar.xz; tokenizer $(( $(kib "$out/llama3-tokenizer") / 1024 )) MiB, tiny corpus $(( $(kib "$out/tiny-corpus") / 1024 )) MiB"
echo "[gather] $out: $(( out_bytes / 1048576 )) MiB; the working tree that travels beside it: $(( tree_bytes / 1048576 )) MiB;" \
     "together $(( (out_bytes + tree_bytes) / 1048576 )) MiB of the 64 MiB limit"
if (( out_bytes + tree_bytes > 60 * 1048576 )); then
  echo "[gather] WARNING: over 60 MiB together: the device call may refuse the tree" >&2
fi
echo "[gather] done in $(( $(date +%s) - start_s )) s"
