#!/bin/bash
# One node, P ranks: launch/mpirun_local.sh P lowbit-args...
#   launch/mpirun_local.sh 2 sweep configs/sweeps/tiny-llama3.yaml
# Ranks are bound to cores; CPU runs give every rank `distributed.threads` intra-op threads.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 RANKS LOWBIT-ARGS..." >&2; exit 2; }
np=$1; shift
root="$(cd "$(dirname "$0")/.." && pwd)"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-run-as-root)
# More ranks than cores (CI's two cores) needs --oversubscribe.
[ "$np" -gt "$(nproc)" ] && extra+=(--oversubscribe)
exec mpirun "${extra[@]}" -np "$np" --bind-to core --map-by core "$root/build/bin/lowbit" "$@"
