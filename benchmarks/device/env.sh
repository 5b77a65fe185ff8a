# Sourced (bash): sets up the environment for the prefix that benchmarks/device/gather_deps.sh made
# and check.sh unpacked, so that CMake, pkg-config, h5cc, mpicc and mpirun find its packages:
#
#   source benchmarks/device/env.sh PREFIX [RUNTIME_LIB_DIR]
#
# PATH, CMAKE_PREFIX_PATH and PKG_CONFIG_PATH get the prefix first. OpenMPI is relocated with
# OPAL_PREFIX (its libraries, plugins, help files and wrapper data follow it) and OPAL_SYSCONFDIR
# (its /etc/openmpi), the PMIx it loads with PMIX_DESTDIR. LD_LIBRARY_PATH gets RUNTIME_LIB_DIR (default PREFIX/../runtime-lib), rebuilt
# here as symlinks: every "own" library of the prefix (OpenMPI and its PMIx/hwloc/libevent, HDF5,
# yaml-cpp, ...) and a "system" one (zlib, libcurl and its closure, ...) only where the host's
# ld.so.cache lacks its soname, so the host's own programs (python, cmake) keep the host's copies.
# LOWBIT_DEPS_CMAKE_ARGS (an array) holds the -D options that name the prefix's tools to CMake.
lowbit_deps_env() {
  local prefix rt
  prefix="$(cd "$1" && pwd)" || return 1
  rt="${2:-$(dirname "$prefix")/runtime-lib}"
  [ -x "$prefix/usr/bin/orterun" ] && [ -f "$prefix/lowbit-runtime-libs.txt" ] || {
    echo "env.sh: $prefix is not a prefix made by benchmarks/device/gather_deps.sh" >&2; return 1; }
  rm -rf "$rt" && mkdir -p "$rt"
  local ldconfig_bin host_sonames cat soname rel pkg n_own=0 n_sys=0 n_host=0
  ldconfig_bin="$(command -v ldconfig || echo /sbin/ldconfig)"
  host_sonames="$("$ldconfig_bin" -p 2>/dev/null | awk '/x86-64/ {print $1}' | sort -u)"
  while read -r cat soname rel pkg; do
    [ -n "$soname" ] || continue
    if [ "$cat" = own ]; then
      ln -sf "$prefix/$rel" "$rt/$soname"; n_own=$((n_own + 1))
    elif grep -qxF "$soname" <<<"$host_sonames"; then
      n_host=$((n_host + 1))
    else
      ln -sf "$prefix/$rel" "$rt/$soname"; n_sys=$((n_sys + 1))
    fi
  done < "$prefix/lowbit-runtime-libs.txt"

  export LOWBIT_DEPS_PREFIX="$prefix"
  export PATH="$prefix/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$rt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_PATH="$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export OPAL_PREFIX="$prefix/usr"
  export OPAL_SYSCONFDIR="$prefix/etc/openmpi"
  # PMIx (libpmix, which OpenMPI's ext3x component loads) is relocated by a DESTDIR: its compiled-in
  # /usr/lib/x86_64-linux-gnu/pmix2/... paths (plugins, help files) are read below the prefix.
  export PMIX_DESTDIR="$prefix"
  # The device machine runs commands as root; mpirun refuses that unless told.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  LOWBIT_DEPS_CMAKE_ARGS=(
    "-DMPI_C_COMPILER=$prefix/usr/bin/mpicc"
    "-DMPIEXEC_EXECUTABLE=$prefix/usr/bin/mpiexec"
    "-DHDF5_C_COMPILER_EXECUTABLE=$prefix/usr/bin/h5cc"
    "-DPKG_CONFIG_EXECUTABLE=$prefix/usr/bin/pkg-config"
    "-DLOWBIT_MPIRUN=$prefix/usr/bin/mpirun"
    # Named outright: a host whose CMake does not search the Debian multiarch directories finds them too.
    "-DGTest_DIR=$prefix/usr/lib/x86_64-linux-gnu/cmake/GTest"
    "-Dyaml-cpp_DIR=$prefix/usr/lib/x86_64-linux-gnu/cmake/yaml-cpp"
    "-Dnlohmann_json_DIR=$prefix/usr/share/cmake/nlohmann_json"
    "-DCLI11_DIR=$prefix/usr/share/cmake/CLI11"
    "-DZLIB_INCLUDE_DIR=$prefix/usr/include"
    "-DZLIB_LIBRARY=$prefix/usr/lib/x86_64-linux-gnu/libz.so"
  )
  echo "[env] prefix $prefix: $n_own own libraries, $n_sys system libraries the host lacks, $n_host taken from the host ($rt)"
}

if [ "${BASH_SOURCE[0]}" != "$0" ] && [ $# -ge 1 ]; then
  lowbit_deps_env "$@"
fi
