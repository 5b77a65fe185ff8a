#!/bin/bash
# Several nodes from a hostfile (one line per node: "node01 slots=8"):
#   launch/mpirun_hostfile.sh HOSTFILE P lowbit-args...
# Every node needs the same build/ and data paths (a shared file system). Rank order follows the
# hostfile, so contiguous block ranges stay on a node as long as possible.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 HOSTFILE RANKS LOWBIT-ARGS..." >&2; exit 2; }
hostfile=$1 np=$2; shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
exec mpirun --hostfile "$hostfile" -np "$np" --map-by ppr:1:core --bind-to core \
  -x NCCL_DEBUG -x NCCL_SOCKET_IFNAME -x NCCL_IB_HCA -x LD_LIBRARY_PATH \
  "$root/build/bin/lowbit" "$@"
