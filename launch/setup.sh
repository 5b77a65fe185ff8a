#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test lowbit: Debian packages and the pinned PyPI
# packages (libtorch comes from the `torch` wheel). Idempotent and non-interactive: re-running it on a
# ready machine installs nothing. Prints the time it took and the bytes it downloaded.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"

rx_bytes() { awk 'NR>2 && $1 !~ /^lo:/ {sub(/^[^:]*:/, ""); split($0, f, " "); s += f[1]} END {printf "%.0f", s}' /proc/net/dev; }
start_s=$(date +%s); start_rx=$(rx_bytes)

DEBS=(build-essential cmake ninja-build ccache pkg-config
      libopenmpi-dev openmpi-bin libhdf5-dev libyaml-cpp-dev nlohmann-json3-dev libpcre2-dev
      libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev
      clang-14 libclang-rt-14-dev llvm-14  # the ASan/UBSan + libFuzzer build (launch/sanitize_build.sh; llvm-symbolizer)
      fortunes fortune-anarchism dict-gcide)  # the last three: the small model's corpus (launch/prepare_tiny_corpus.py)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] Debian packages: all present"
fi

# pip is asked only when a pinned requirement is not satisfied (checked without network).
if ! "$PY" "$here/check_requirements.py" "$here/requirements.txt" 2>/dev/null; then
  echo "[setup] installing Python packages from launch/requirements.txt (torch is large: ~3 GB with its CUDA libraries)"
  "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r "$here/requirements.txt"
else
  echo "[setup] Python packages: all present"
fi

# The packed-export oracles, in a virtual environment of their own over the packages above.
oracles="${LOWBIT_ORACLE_VENV:-$(cd "$here/.." && pwd)/.venv-oracles}"
if [ ! -x "$oracles/bin/python" ]; then
  echo "[setup] creating $oracles (packed-export oracles: launch/requirements-oracles.txt)"
  "$PY" -m venv --system-site-packages "$oracles"
fi
if ! "$oracles/bin/python" "$here/check_requirements.py" "$here/requirements-oracles.txt" 2>/dev/null; then
  echo "[setup] installing launch/requirements-oracles.txt into $oracles"
  "$oracles/bin/python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r "$here/requirements-oracles.txt"
else
  echo "[setup] oracle packages: all present"
fi
if ! "$oracles/bin/python" "$here/check_requirements.py" "$here/requirements-oracles-nodeps.txt" 2>/dev/null; then
  echo "[setup] installing launch/requirements-oracles-nodeps.txt into $oracles (without their dependencies)"
  "$oracles/bin/python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    -r "$here/requirements-oracles-nodeps.txt"
fi

end_rx=$(rx_bytes)
echo "[setup] done in $(( $(date +%s) - start_s )) s, downloaded $(( (end_rx - start_rx) / 1048576 )) MiB"
